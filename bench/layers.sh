#!/usr/bin/env bash
# Where a request's time goes, layer by layer: instructions per request of
# the static asset, /verify with a verified key and an authenticated
# { __typename }, counted by callgrind (repeatable whatever else the machine
# does), for any number of keyward binaries and the bare axum reference.
#
#   bench/layers.sh LABEL=BINARY...     # e.g. before=/tmp/old/keyward after=target/release/keyward
#
# Prints BENCHMARKS.md's table (thousand instructions per request, by
# group; see bench/layers.py for the groups).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null && command -v wrk >/dev/null || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind wrk jq curl >/dev/null
}
cargo build --release --quiet -p keyward-bench
REFERENCE=${CARGO_TARGET_DIR:-target}/release/keyward-bench
WORK=$(mktemp -d /tmp/keyward-layers.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cat >"$WORK/typename.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"query":"{ __typename }"}'
wrk.headers["Content-Type"] = "application/json"
LUA

# measure NAME URL [wrk args]: callgrind of the server $VPID over 10 s of
# load; writes $WORK/NAME.out and $WORK/NAME.n (requests answered).
measure() {
  local name=$1 url=$2
  shift 2
  callgrind_control -i on "$VPID" >/dev/null
  wrk -t1 -c4 -d10s "$@" "$url" | grep -o '[0-9]* requests in' | cut -d' ' -f1 >"$WORK/$name.n"
  callgrind_control -i off "$VPID" >/dev/null
  callgrind_control -d "$VPID" >/dev/null
  mv "$(ls -t "$WORK/cg.out".* | head -n 1)" "$WORK/$name.out"
}

COLUMNS=()
# The reference: bare axum, the same file.
port=$(free_port)
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$WORK/cg.out" \
  "$REFERENCE" reference --listen "127.0.0.1:$port" --file web/favicon.svg >"$WORK/reference.log" 2>&1 &
VPID=$!
until curl -sf -o /dev/null "http://127.0.0.1:$port/"; do sleep 0.2; done
measure reference "http://127.0.0.1:$port/favicon.svg"
kill "$VPID"; wait "$VPID" 2>/dev/null || true
COLUMNS+=("reference=$WORK/reference.out:$WORK/reference.n")

for labelled in "$@"; do
  label=${labelled%%=*} bin=${labelled#*=}
  db="sqlite://$WORK/$label.db?mode=rwc"
  port=$(free_port)
  base="http://127.0.0.1:$port"
  # A project, a key and access control on, made through the API.
  RUST_LOG=warn "$bin" serve --listen "127.0.0.1:$port" --database-url "$db" >"$WORK/$label.log" 2>&1 &
  pid=$!
  until curl -sf -o /dev/null "$base/livez"; do sleep 0.05; done
  gql() { curl -sS "$base/graphql" -H 'Content-Type: application/json' --data "$1"; }
  project=$(gql '{"query":"mutation { createProject(input: {name: \"layers\"}) { project { id } } }"}' | jq -r .data.createProject.project.id)
  created=$(gql "$(jq -cn --arg p "$project" '{query: "mutation($p: ID!) { createApiKey(input: {projectId: $p, name: \"layers\"}) { secretKey apiKey { accessKey } } }", variables: {p: $p}}')")
  auth="Basic $(printf '%s:%s' "$(jq -r .data.createApiKey.apiKey.accessKey <<<"$created")" "$(jq -r .data.createApiKey.secretKey <<<"$created")" | base64 -w0)"
  gql '{"query":"mutation { enableAccessControl(input: {username: \"admin\", password: \"correct horse battery staple\"}) { enabled } }"}' >/dev/null
  asset=$(curl -sS "$base/" | grep -o '/assets/[^"]*/favicon.svg' | head -n 1)
  kill "$pid"; wait "$pid" 2>/dev/null || true
  # The same server under callgrind, warmed up (the key verified once).
  RUST_LOG=warn valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$WORK/cg.out" \
    "$bin" serve --listen "127.0.0.1:$port" --database-url "$db" >"$WORK/$label.log" 2>&1 &
  VPID=$!
  until curl -sf -o /dev/null "$base/livez"; do sleep 0.2; done
  curl -s -o /dev/null -H "Authorization: $auth" "$base/projects/$project/verify"
  curl -s -o /dev/null -H "Authorization: $auth" -H 'Content-Type: application/json' --data '{"query":"{ __typename }"}' "$base/graphql"
  measure "$label-static" "$base$asset"
  measure "$label-verify" "$base/projects/$project/verify" -H "Authorization: $auth"
  measure "$label-typename" "$base/graphql" -H "Authorization: $auth" -s "$WORK/typename.lua"
  kill "$VPID"; wait "$VPID" 2>/dev/null || true
  for route in static verify typename; do
    COLUMNS+=("$label $route=$WORK/$label-$route.out:$WORK/$label-$route.n")
  done
done
python3 bench/layers.py "${COLUMNS[@]}"
