#!/usr/bin/env bash
# keyward benchmark: one command, prints the table of targets R1–R5, V1–V3,
# F1–F3 (keyward against a bare axum reference), P1 (a page of keys against
# the build of BASELINE_REV), N1 (nginx with auth_request against nginx
# without it) and U1 (usage counting on against off).
#
#   bench/run.sh                 # SQLite, and PostgreSQL when reachable
#   DURATION=20 bench/run.sh     # seconds per load run (default 10)
#   KEYS=100000 bench/run.sh     # keys in the large project (default 1,000,000)
#   BASELINE_REV=<commit>        # what P1 compares with (default: the commit
#                                # before the HTTP stack work of issue 28)
#
# Server and load generator (wrk) share this machine, on 127.0.0.1; every
# target is a ratio of two runs made here, in this one invocation.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
KEYS=${KEYS:-1000000}
SMALL_KEYS=1000
PG_SERVER=${KEYWARD_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432}
BASELINE_REV=${BASELINE_REV:-ccdc929}
WORK=$(mktemp -d /tmp/keyward-bench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

need() { command -v "$1" >/dev/null 2>&1; }
if ! need wrk || ! need jq || ! need curl || ! [ -x /usr/sbin/nginx ]; then
  echo "installing wrk, jq, curl, nginx" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk jq curl nginx >/dev/null
fi

echo "building (release)" >&2
cargo build --release --quiet -p keyward -p keyward-bench
BIN=${CARGO_TARGET_DIR:-target}/release/keyward
SEED=${CARGO_TARGET_DIR:-target}/release/keyward-bench
LUA=bench/wrk/graphql.lua
# The asset every static run serves: keyward's from the binary, the
# reference's from this file.
ASSET=favicon.svg

# The build P1 compares with, kept between runs in its own target dir.
BASELINE_DIR=${CARGO_TARGET_DIR:-target}/bench-baseline
if [ "$(cat "$BASELINE_DIR/rev" 2>/dev/null)" != "$BASELINE_REV" ]; then
  echo "building the baseline $BASELINE_REV (release)" >&2
  rm -rf "$BASELINE_DIR/src" && mkdir -p "$BASELINE_DIR/src"
  git archive "$BASELINE_REV" | tar -x -C "$BASELINE_DIR/src"
  CARGO_TARGET_DIR="$BASELINE_DIR" cargo build --release --quiet \
    --manifest-path "$BASELINE_DIR/src/Cargo.toml" -p keyward -p keyward-bench
  echo "$BASELINE_REV" >"$BASELINE_DIR/rev"
fi

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

# The reference: bare axum serving the same asset, for every backend's
# F rows (measured next to keyward's own static runs).
REF_PORT=$(free_port)
"$SEED" reference --listen "127.0.0.1:$REF_PORT" --file "web/$ASSET" >"$WORK/reference.log" 2>&1 &
until curl -sf -o /dev/null "http://127.0.0.1:$REF_PORT/"; do sleep 0.01; done

# start_server BIN URL LOG [ARGS...]: a keyward serving URL (with ARGS),
# once it answers; sets SERVER_PID and SERVER_PORT. Call it and
# stop_server in the same shell (never start_server alone in a $(...)): the
# server must be that shell's child for `wait` to see it exit, and on
# SQLite the next server needs the file it held.
start_server() {
  SERVER_PORT=$(free_port)
  RUST_LOG=warn "$1" serve --listen "127.0.0.1:$SERVER_PORT" --database-url "$2" "${@:4}" >"$3" 2>&1 &
  SERVER_PID=$!
  until curl -sf -o /dev/null "http://127.0.0.1:$SERVER_PORT/livez"; do
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$3" >&2; exit 1; }
    sleep 0.005
  done
}

# stop_server: stops the server start_server started, and waits for it.
stop_server() {
  kill "$SERVER_PID"
  wait "$SERVER_PID" 2>/dev/null || true
}

ADMIN_AUTH="Basic $(printf '%s' 'admin:correct horse battery staple' | base64 -w0)"
ENABLE_ACCESS_CONTROL='mutation { enableAccessControl(input: {username: "admin", password: "correct horse battery staple"}) { enabled } }'
# P1's page: 50 keys with totalCount, the first page of a 1,000-key project.
PAGE_QUERY='query($p: ID!) { project(id: $p) { apiKeys(first: 50) { totalCount edges { cursor node { id name state } } } } }'

# baseline_page BACKEND: P1's page on the baseline build, on a database of
# its own seeded by its own seeder (the current one may hold migrations the
# baseline does not know); prints wrk's summary.
baseline_page() {
  local backend=$1 url
  if [ "$backend" = postgres ]; then
    psql "$PG_SERVER/postgres" -qc 'DROP DATABASE IF EXISTS keyward_bench_baseline WITH (FORCE)' -qc 'CREATE DATABASE keyward_bench_baseline' >/dev/null
    url="$PG_SERVER/keyward_bench_baseline"
  else
    url="sqlite://$WORK/baseline.db?mode=rwc"
  fi
  local seeded small
  seeded=$("$BASELINE_DIR/release/keyward-bench" seed --database-url "$url" --large 1 --small "$SMALL_KEYS")
  small=$(jq -r .small <<<"$seeded")
  start_server "$BASELINE_DIR/release/keyward" "$url" "$WORK/$backend-baseline.log"
  gql "http://127.0.0.1:$SERVER_PORT/graphql" "$(body "$ENABLE_ACCESS_CONTROL")" >/dev/null
  load "$backend-page-baseline" 32 "http://127.0.0.1:$SERVER_PORT/graphql" "$(jq -cn --arg q "$PAGE_QUERY" --arg p "$small" '{query: $q, variables: {p: $p}}')" "$ADMIN_AUTH"
  stop_server
  if [ "$backend" = postgres ]; then
    psql "$PG_SERVER/postgres" -qc 'DROP DATABASE IF EXISTS keyward_bench_baseline WITH (FORCE)' >/dev/null
  fi
}

# start_nginx KEYWARD_PORT PROJECT: one nginx with two servers in front of
# the reference (the protected service): docs/proxies/nginx.conf as the
# guide gives it, asking keyward, and the same proxying without
# auth_request. Prints "GATED_PORT PLAIN_PORT".
start_nginx() {
  local keyward_port=$1 project=$2 gated plain dir=$WORK/nginx
  gated=$(free_port); plain=$(free_port)
  mkdir -p "$dir"
  sed -e "s/127.0.0.1:8080/127.0.0.1:$keyward_port/g" -e "s/127.0.0.1:9000/127.0.0.1:$REF_PORT/g" \
    -e "s/listen 8000;/listen 127.0.0.1:$gated;/" -e "s/PROJECT_ID/$project/g" docs/proxies/nginx.conf >"$dir/keyward.conf"
  cat >"$dir/nginx.conf" <<NGINX
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $dir/client_body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  include $dir/keyward.conf;
  server {
    listen 127.0.0.1:$plain;
    location / {
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_pass http://protected_service;
    }
  }
}
NGINX
  # Its output goes to a file: an inherited stdout would keep the caller's
  # $(...) waiting for ever.
  /usr/sbin/nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" -g 'daemon off;' >"$dir/output.log" 2>&1 &
  until curl -s -o /dev/null "http://127.0.0.1:$plain/"; do sleep 0.01; done
  echo "$gated $plain $!"
}

ROWS=()
row() { ROWS+=("$(printf '%-8s %-11s %-58s %14s %14s %8s %-10s %s' "$@")"); }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b == 0 ? 0 : a / b) }'; }
verdict() { awk -v r="$1" -v op="$2" -v t="$3" 'BEGIN { ok = (op == ">=" ? r >= t : r <= t); print (ok ? "PASS" : "FAIL") }'; }

# verify_with_usage BACKEND URL PROJECT AUTH on|off: /verify's summary on a
# server started with --usage-counting on or off.
verify_with_usage() {
  local backend=$1 url=$2 project=$3 auth=$4 counting=$5
  start_server "$BIN" "$url" "$WORK/$backend-usage-$counting.log" --usage-counting "$counting"
  echo "== $backend: U1 /verify, usage counting $counting" >&2
  load "$backend-usage-$counting" 32 "http://127.0.0.1:$SERVER_PORT/projects/$project/verify" "" "$auth"
  stop_server
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
  local asset; asset=$(curl -sS "$base/" | grep -o "/assets/[^\"]*/$ASSET" | head -n 1)
  [ -n "$asset" ] || { echo "no asset link on /" >&2; exit 1; }
  echo "== $backend: F reference (bare axum, same asset)" >&2
  local reference; reference=$(load "$backend-reference" 32 "http://127.0.0.1:$REF_PORT/$ASSET" "")
  echo "== $backend: V static asset" >&2
  local static; static=$(load "$backend-static" 32 "$base$asset" "")
  echo "== $backend: V1 /verify" >&2
  local verify; verify=$(load "$backend-verify" 32 "$base/projects/$large/verify" "" "$key_auth")
  echo "== $backend: V2 __typename" >&2
  local v2; v2=$(load "$backend-v2" 32 "$base/graphql" "$(body '{ __typename }')" "$key_auth")
  echo "== $backend: V3 project" >&2
  local v3; v3=$(load "$backend-v3" 32 "$endpoint" "$(body '{ project { id name } }')" "$key_auth")

  echo "== $backend: N1 nginx with and without auth_request" >&2
  local gated plain nginx_pid
  read -r gated plain nginx_pid <<<"$(start_nginx "$port" "$large")"
  local through; through=$(load "$backend-nginx-verify" 32 "http://127.0.0.1:$gated/" "" "$key_auth")
  local direct; direct=$(load "$backend-nginx-plain" 32 "http://127.0.0.1:$plain/" "")
  kill "$nginx_pid"; wait "$nginx_pid" 2>/dev/null || true

  echo "== $backend: P1 page of 50 with totalCount, 32 connections, and the baseline's" >&2
  local p1; p1=$(load "$backend-page" 32 "$base/graphql" "$(jq -cn --arg q "$PAGE_QUERY" --arg p "$small" '{query: $q, variables: {p: $p}}')" "$admin_auth")

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
  local p1_baseline; p1_baseline=$(baseline_page "$backend")

  # U1: what usage counting costs /verify: a server with it and one without
  # (--usage-counting off), one after the other on the same database.
  # In the order on, off, off, on, each rate the mean of its two runs: a
  # machine that slows down or speeds up during the four runs weighs on both
  # sides alike (one run of each measured drift, not the counting).
  local on1 off1 off2 on2 usage_on usage_off
  on1=$(verify_with_usage "$backend" "$url" "$large" "$key_auth" on)
  off1=$(verify_with_usage "$backend" "$url" "$large" "$key_auth" off)
  off2=$(verify_with_usage "$backend" "$url" "$large" "$key_auth" off)
  on2=$(verify_with_usage "$backend" "$url" "$large" "$key_auth" on)
  usage_on=$(jq -cn --argjson a "$on1" --argjson b "$on2" '{rps: ((($a.rps + $b.rps) / 2) * 10 | round / 10)}')
  usage_off=$(jq -cn --argjson a "$off1" --argjson b "$off2" '{rps: ((($a.rps + $b.rps) / 2) * 10 | round / 10)}')

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
  r=$(ratio "$(jq .rps <<<"$static")" "$(jq .rps <<<"$reference")")
  row "$backend" "F1" "static asset / bare axum reference, same asset (req/s)" "$(jq .rps <<<"$static")" "$(jq .rps <<<"$reference")" "$r" ">= 0.80" "$(verdict "$r" ">=" 0.8)"
  r=$(ratio "$(jq .rps <<<"$verify")" "$(jq .rps <<<"$reference")")
  row "$backend" "F2" "/verify, verified key / reference (req/s)" "$(jq .rps <<<"$verify")" "$(jq .rps <<<"$reference")" "$r" ">= 0.60" "$(verdict "$r" ">=" 0.6)"
  r=$(ratio "$(jq .rps <<<"$v2")" "$(jq .rps <<<"$reference")")
  row "$backend" "F3" "authenticated { __typename } / reference (req/s)" "$(jq .rps <<<"$v2")" "$(jq .rps <<<"$reference")" "$r" ">= 0.45" "$(verdict "$r" ">=" 0.45)"
  r=$(ratio "$(jq .rps <<<"$through")" "$(jq .rps <<<"$direct")")
  row "$backend" "N1" "nginx auth_request, verified key / nginx alone (req/s)" "$(jq .rps <<<"$through")" "$(jq .rps <<<"$direct")" "$r" ">= 0.50" "$(verdict "$r" ">=" 0.5)"
  r=$(ratio "$(jq .rps <<<"$p1")" "$(jq .rps <<<"$p1_baseline")")
  local p1_target=">= 3.00" p1_verdict
  p1_verdict=$(verdict "$r" ">=" 3)
  # The page target is PostgreSQL's; SQLite's figures are shown for
  # comparison.
  [ "$backend" = postgres ] || { p1_target="(info)"; p1_verdict="-"; }
  row "$backend" "P1 rps" "page of 50, 1000 keys, 32 conns / $BASELINE_REV (req/s)" "$(jq .rps <<<"$p1")" "$(jq .rps <<<"$p1_baseline")" "$r" "$p1_target" "$p1_verdict"
  local p99_ms; p99_ms=$(awk -v us="$(jq .p99_us <<<"$p1")" 'BEGIN { printf "%.2f", us / 1000 }')
  local p99_target="<= 8 ms" p99_verdict
  p99_verdict=$(verdict "$p99_ms" "<=" 8)
  [ "$backend" = postgres ] || { p99_target="(info)"; p99_verdict="-"; }
  row "$backend" "P1 p99" "page of 50, 32 conns: p99 (ms) / $BASELINE_REV's (ms)" "$p99_ms" "$(awk -v us="$(jq .p99_us <<<"$p1_baseline")" 'BEGIN { printf "%.2f", us / 1000 }')" "-" "$p99_target" "$p99_verdict"
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
