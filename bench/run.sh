#!/usr/bin/env bash
# keyward benchmark: one command, prints the table of targets R1–R5, V1–V3 and U1.
#
#   bench/run.sh                 # SQLite, and PostgreSQL when reachable
#   DURATION=20 bench/run.sh     # seconds per load run (default 10)
#   KEYS=100000 bench/run.sh     # keys in the large project (default 1,000,000)
#
# Server and load generator (wrk) share this machine, on 127.0.0.1; every
# target is a ratio of two runs made here, in this one invocation.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
KEYS=${KEYS:-1000000}
SMALL_KEYS=1000
PG_SERVER=${KEYWARD_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432}
WORK=$(mktemp -d /tmp/keyward-bench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

need() { command -v "$1" >/dev/null 2>&1; }
if ! need wrk || ! need jq || ! need curl; then
  echo "installing wrk, jq, curl" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk jq curl >/dev/null
fi

echo "building (release)" >&2
cargo build --release --quiet -p keyward -p keyward-bench
BIN=${CARGO_TARGET_DIR:-target}/release/keyward
SEED=${CARGO_TARGET_DIR:-target}/release/keyward-bench
LUA=bench/wrk/graphql.lua

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now_ms() { date +%s%3N; }

# gql URL BODY [curl args]: one request, prints the body.
gql() { curl -sS "$1" -H 'Content-Type: application/json' --data "$2" "${@:3}"; }
body() { jq -cn --arg q "$1" '{query: $q}'; }

# load NAME CONNECTIONS URL BODY [AUTH]: a wrk run; prints its JSON summary line.
load() {
  local name=$1 conns=$2 url=$3 payload=$4 auth=${5:-} threads=2
  [ "$conns" -lt 2 ] && threads=1
  # Warm-up: one request first, so a run measures the steady state (the first
  # use of a key pays argon2 once, by design). An empty payload is a GET.
  if [ -n "$payload" ]; then
    curl -s -o /dev/null "$url" -H 'Content-Type: application/json' ${auth:+-H "Authorization: $auth"} --data "$payload"
  else
    curl -s -o /dev/null "$url" ${auth:+-H "Authorization: $auth"}
  fi
  BODY=$payload AUTH=$auth EXPECT_FAILURE=${EXPECT_FAILURE:-0} \
    wrk -t"$threads" -c"$conns" -d"${DURATION}s" --latency -s "$LUA" "$url" >"$WORK/$name.out" 2>&1
  local summary
  summary=$(grep '^{' "$WORK/$name.out" | tail -n 1)
  if [ -z "$summary" ]; then echo "wrk run $name failed:" >&2; cat "$WORK/$name.out" >&2; exit 1; fi
  if [ "${EXPECT_FAILURE:-0}" != 1 ] && [ "$(jq .not_success <<<"$summary")" != 0 ]; then
    echo "run $name: responses that are not GraphQL successes: $summary" >&2; exit 1
  fi
  echo "$summary"
}

ROWS=()
row() { ROWS+=("$(printf '%-8s %-11s %-58s %14s %14s %8s %-10s %s' "$@")"); }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b == 0 ? 0 : a / b) }'; }
verdict() { awk -v r="$1" -v op="$2" -v t="$3" 'BEGIN { ok = (op == ">=" ? r >= t : r <= t); print (ok ? "PASS" : "FAIL") }'; }

# verify_with_usage BACKEND URL PROJECT AUTH on|off: /verify's summary on a
# server started with --usage-counting on or off.
verify_with_usage() {
  local backend=$1 url=$2 project=$3 auth=$4 counting=$5 port
  port=$(free_port)
  RUST_LOG=warn "$BIN" serve --listen "127.0.0.1:$port" --database-url "$url" --usage-counting "$counting" \
    >"$WORK/$backend-usage-$counting.log" 2>&1 &
  local pid=$!
  until curl -sf "http://127.0.0.1:$port/graphql" -H 'Content-Type: application/json' --data '{"query":"{ __typename }"}' >/dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || { cat "$WORK/$backend-usage-$counting.log" >&2; exit 1; }
    sleep 0.005
  done
  echo "== $backend: U1 /verify, usage counting $counting" >&2
  load "$backend-usage-$counting" 32 "http://127.0.0.1:$port/projects/$project/verify" "" "$auth"
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

bench_backend() {
  local backend=$1 url=$2
  echo "== $backend: seeding $KEYS + $SMALL_KEYS keys" >&2
  local seeded; seeded=$("$SEED" seed --database-url "$url" --large "$KEYS" --small "$SMALL_KEYS")
  local large small large_cursor small_cursor
  large=$(jq -r .large <<<"$seeded"); small=$(jq -r .small <<<"$seeded")
  large_cursor=$(jq -r .large_cursor <<<"$seeded"); small_cursor=$(jq -r .small_cursor <<<"$seeded")

  # Cold start: existing, migrated database to the first answered request.
  local port; port=$(free_port)
  local base="http://127.0.0.1:$port"
  local started; started=$(now_ms)
  RUST_LOG=warn "$BIN" serve --listen "127.0.0.1:$port" --database-url "$url" >"$WORK/$backend-server.log" 2>&1 &
  local pid=$!
  until curl -sf "$base/graphql" -H 'Content-Type: application/json' --data '{"query":"{ __typename }"}' >/dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || { cat "$WORK/$backend-server.log" >&2; exit 1; }
    sleep 0.005
  done
  local cold=$(( $(now_ms) - started ))

  # The key the benchmark authenticates with, made through the API.
  local created access secret
  created=$(gql "$base/graphql" "$(jq -cn --arg p "$large" '{query: "mutation($p: ID!) { createApiKey(input: {projectId: $p, name: \"bench\"}) { secretKey apiKey { accessKey } } }", variables: {p: $p}}')")
  access=$(jq -r .data.createApiKey.apiKey.accessKey <<<"$created")
  secret=$(jq -r .data.createApiKey.secretKey <<<"$created")
  local key_auth="Basic $(printf '%s:%s' "$access" "$secret" | base64 -w0)"
  # The flood aims at another valid key: past the failure limit that key is
  # throttled (by design, even for its right secret), while the legitimate
  # key keeps working.
  local victim
  victim=$(gql "$base/graphql" "$(jq -cn --arg p "$large" '{query: "mutation($p: ID!) { createApiKey(input: {projectId: $p, name: \"victim\"}) { apiKey { accessKey } } }", variables: {p: $p}}')" | jq -r .data.createApiKey.apiKey.accessKey)
  local wrong_auth="Basic $(printf '%s:%s' "$victim" "wrongwrongwrongwrongwrongwrongwrongwrong" | base64 -w0)"
  local admin_auth="Basic $(printf '%s' 'admin:correct horse battery staple' | base64 -w0)"
  local endpoint="$base/projects/$large/graphql"
  local viewer; viewer=$(body '{ viewer { kind project { id name } } }')

  echo "== $backend: R1 open" >&2
  local open; open=$(load "$backend-open" 16 "$endpoint" "$viewer")
  gql "$base/graphql" "$(body 'mutation { enableAccessControl(input: {username: "admin", password: "correct horse battery staple"}) { enabled } }')" >/dev/null
  echo "== $backend: R1 authenticated" >&2
  local authed; authed=$(load "$backend-auth" 16 "$endpoint" "$viewer" "$key_auth")
  echo "== $backend: R2 __typename" >&2
  local typename; typename=$(load "$backend-typename" 16 "$base/graphql" "$(body '{ __typename }')" "$key_auth")

  # The hot-path targets (V1–V3) compare against a static asset of the same
  # server: the console's stylesheet, served from the binary.
  local asset; asset=$(curl -sS "$base/" | grep -o '/assets/[^"]*/console.css' | head -n 1)
  [ -n "$asset" ] || { echo "no asset link on /" >&2; exit 1; }
  echo "== $backend: V static asset" >&2
  local static; static=$(load "$backend-static" 32 "$base$asset" "")
  echo "== $backend: V1 /verify" >&2
  local verify; verify=$(load "$backend-verify" 32 "$base/projects/$large/verify" "" "$key_auth")
  echo "== $backend: V2 __typename" >&2
  local v2; v2=$(load "$backend-v2" 32 "$base/graphql" "$(body '{ __typename }')" "$key_auth")
  echo "== $backend: V3 project" >&2
  local v3; v3=$(load "$backend-v3" 32 "$endpoint" "$(body '{ project { id name } }')" "$key_auth")

  echo "== $backend: R3 pages" >&2
  local page='query($p: ID!, $c: String) { project(id: $p) { apiKeys(first: 50, after: $c) { totalCount edges { cursor node { id name state } } } } }'
  local page_small page_large
  page_small=$(load "$backend-page-small" 1 "$base/graphql" "$(jq -cn --arg q "$page" --arg p "$small" --arg c "$small_cursor" '{query: $q, variables: {p: $p, c: $c}}')" "$admin_auth")
  page_large=$(load "$backend-page-large" 1 "$base/graphql" "$(jq -cn --arg q "$page" --arg p "$large" --arg c "$large_cursor" '{query: $q, variables: {p: $p, c: $c}}')" "$admin_auth")
  local total; total=$(gql "$base/graphql" "$(jq -cn --arg q "$page" --arg p "$large" '{query: $q, variables: {p: $p}}')" -H "Authorization: $admin_auth" | jq .data.project.apiKeys.totalCount)
  # The seeded keys, plus the benchmark's key and the flood's target.
  [ "$total" = $((KEYS + 2)) ] || { echo "totalCount $total, expected $((KEYS + 2))" >&2; exit 1; }

  echo "== $backend: R4 flood of wrong secrets" >&2
  local calm; calm=$(load "$backend-calm" 8 "$endpoint" "$viewer" "$key_auth")
  EXPECT_FAILURE=1 load "$backend-flood" 64 "$endpoint" "$viewer" "$wrong_auth" >"$WORK/flood.json" &
  local flood_pid=$!
  sleep 1
  local flooded; flooded=$(load "$backend-flooded" 8 "$endpoint" "$viewer" "$key_auth")
  local flood_rss; flood_rss=$(awk '/VmRSS/ { print int($2 / 1024) }' "/proc/$pid/status")
  wait "$flood_pid"
  local peak; peak=$(awk '/VmHWM/ { print int($2 / 1024) }' "/proc/$pid/status")
  kill "$pid"; wait "$pid" 2>/dev/null || true

  # U1: what usage counting costs /verify: a server with it and one without
  # (--usage-counting off), one after the other on the same database.
  local usage_on usage_off
  usage_on=$(verify_with_usage "$backend" "$url" "$large" "$key_auth" on)
  usage_off=$(verify_with_usage "$backend" "$url" "$large" "$key_auth" off)

  local r
  r=$(ratio "$(jq .rps <<<"$authed")" "$(jq .rps <<<"$open")")
  row "$backend" "R1 rps" "authenticated viewer / access control off (req/s)" "$(jq .rps <<<"$authed")" "$(jq .rps <<<"$open")" "$r" ">= 0.80" "$(verdict "$r" ">=" 0.8)"
  r=$(ratio "$(jq .p99_us <<<"$authed")" "$(jq .p99_us <<<"$open")")
  row "$backend" "R1 p99" "authenticated viewer / access control off (p99 us)" "$(jq .p99_us <<<"$authed")" "$(jq .p99_us <<<"$open")" "$r" "<= 1.25" "$(verdict "$r" "<=" 1.25)"
  r=$(ratio "$(jq .rps <<<"$authed")" "$(jq .rps <<<"$typename")")
  row "$backend" "R2" "authenticated viewer / { __typename } (req/s)" "$(jq .rps <<<"$authed")" "$(jq .rps <<<"$typename")" "$r" ">= 0.50" "$(verdict "$r" ">=" 0.5)"
  local v3_target=0.35; [ "$backend" = postgres ] && v3_target=0.20
  r=$(ratio "$(jq .rps <<<"$verify")" "$(jq .rps <<<"$static")")
  row "$backend" "V1" "/verify, verified key / static asset (req/s)" "$(jq .rps <<<"$verify")" "$(jq .rps <<<"$static")" "$r" ">= 0.80" "$(verdict "$r" ">=" 0.8)"
  r=$(ratio "$(jq .rps <<<"$v2")" "$(jq .rps <<<"$static")")
  row "$backend" "V2" "authenticated { __typename } / static asset (req/s)" "$(jq .rps <<<"$v2")" "$(jq .rps <<<"$static")" "$r" ">= 0.50" "$(verdict "$r" ">=" 0.5)"
  r=$(ratio "$(jq .rps <<<"$v3")" "$(jq .rps <<<"$static")")
  row "$backend" "V3" "authenticated { project { id name } } / static (req/s)" "$(jq .rps <<<"$v3")" "$(jq .rps <<<"$static")" "$r" ">= $v3_target" "$(verdict "$r" ">=" "$v3_target")"
  r=$(ratio "$(jq .p50_us <<<"$page_large")" "$(jq .p50_us <<<"$page_small")")
  row "$backend" "R3" "page of 50 at $KEYS keys / at $SMALL_KEYS keys (p50 us)" "$(jq .p50_us <<<"$page_large")" "$(jq .p50_us <<<"$page_small")" "$r" "<= 1.50" "$(verdict "$r" "<=" 1.5)"
  r=$(ratio "$(jq .rps <<<"$flooded")" "$(jq .rps <<<"$calm")")
  row "$backend" "R4" "legit req/s under 64-conn wrong-secret flood / calm" "$(jq .rps <<<"$flooded")" "$(jq .rps <<<"$calm")" "$r" ">= 0.50" "$(verdict "$r" ">=" 0.5)"
  r=$(ratio "$(jq .rps <<<"$usage_on")" "$(jq .rps <<<"$usage_off")")
  row "$backend" "U1" "/verify with usage counting / without (req/s)" "$(jq .rps <<<"$usage_on")" "$(jq .rps <<<"$usage_off")" "$r" ">= 0.95" "$(verdict "$r" ">=" 0.95)"
  row "$backend" "R4 mem" "RSS during the flood (MiB) / limit" "$flood_rss" 150 "$(ratio "$flood_rss" 150)" "< 1.00" "$(verdict "$(ratio "$flood_rss" 150)" "<=" 0.999)"
  row "$backend" "R5 rss" "peak RSS at $KEYS keys under load (MiB) / limit" "$peak" 150 "$(ratio "$peak" 150)" "< 1.00" "$(verdict "$(ratio "$peak" 150)" "<=" 0.999)"
  row "$backend" "R5 start" "cold start to first answer (ms) / limit" "$cold" 500 "$(ratio "$cold" 500)" "< 1.00" "$(verdict "$(ratio "$cold" 500)" "<=" 0.999)"
  echo "   flood: $(jq -c '{requests, rps}' "$WORK/flood.json")" >&2
}

bench_backend sqlite "sqlite://$WORK/bench.db?mode=rwc"
if psql "$PG_SERVER/postgres" -qAtc 'SELECT 1' >/dev/null 2>&1; then
  psql "$PG_SERVER/postgres" -qc 'DROP DATABASE IF EXISTS keyward_bench WITH (FORCE)' -qc 'CREATE DATABASE keyward_bench' >/dev/null
  bench_backend postgres "$PG_SERVER/keyward_bench"
  psql "$PG_SERVER/postgres" -qc 'DROP DATABASE IF EXISTS keyward_bench WITH (FORCE)' >/dev/null
else
  echo "PostgreSQL not reachable at $PG_SERVER: benchmarked SQLite only" >&2
fi

echo
echo "keyward benchmark: $(nproc) cores, ${DURATION}s per run, $(date -u +%Y-%m-%dT%H:%MZ)"
printf '%-8s %-11s %-58s %14s %14s %8s %-10s %s\n' backend target measured measured compared ratio target result
for line in "${ROWS[@]}"; do echo "$line"; done
if printf '%s\n' "${ROWS[@]}" | grep -q FAIL; then exit 1; fi
