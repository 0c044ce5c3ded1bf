#!/usr/bin/env bash
# The GraphQL over HTTP conformance suite: the audits of graphql-http (pinned
# by package-lock.json here) against a started keyward, in three modes, and
# the check that schema.graphql is the SDL printed from introspection.
#
#   tests/conformance/run.sh target/release/keyward
#
# Modes: 1. access control off, /graphql (plus the SDL check);
#        2. access control on, an OWNER key, /graphql;
#        3. the same key at its project's endpoint, /projects/ID/graphql.
# Every mode runs; the script fails if any of them failed.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 KEYWARD_BINARY" >&2
  exit 2
fi
binary=$(realpath "$1")
[ -x "$binary" ] || { echo "conformance: $1 is not an executable" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

command -v node >/dev/null || { echo "conformance: node is required" >&2; exit 1; }
command -v npm >/dev/null || { echo "conformance: npm is required" >&2; exit 1; }

# The pinned packages: installed from the lockfile when missing or older than it.
if [ ! -f "$here/node_modules/.package-lock.json" ] ||
   [ "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]; then
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
fi

tmp=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

port=$(node -e '
  const s = require("node:net").createServer();
  s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });')
base="http://127.0.0.1:$port"

"$binary" serve --listen "127.0.0.1:$port" --database-url "sqlite://$tmp/keyward.db?mode=rwc" \
  >"$tmp/server.log" 2>&1 &
server_pid=$!

server_log() { echo "--- keyward's log:" >&2; tail -n 50 "$tmp/server.log" >&2 || true; }

ready=
for _ in $(seq 1 150); do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "conformance: keyward exited before it was ready" >&2
    server_log
    exit 1
  fi
  if [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/healthz" || true)" = 200 ]; then
    ready=1
    break
  fi
  sleep 0.2
done
if [ -z "$ready" ]; then
  echo "conformance: keyward did not answer 200 on /healthz within 30 s" >&2
  server_log
  exit 1
fi

status=0
failed_modes=()

echo "== conformance mode 1: access control off, $base/graphql (and the SDL check)"
node "$here/audit.mjs" --mode off --url "$base/graphql" --sdl "$root/schema.graphql" ||
  { status=1; failed_modes+=(off); }

echo "== conformance: turning access control on, creating an OWNER key"
if ! credentials=$(node "$here/setup.mjs" "$base"); then
  echo "conformance: setting up access control failed" >&2
  server_log
  exit 1
fi
read -r project_id access_key secret_key < <(node -e '
  const c = JSON.parse(process.argv[1]);
  console.log(c.projectId, c.accessKey, c.secretKey);' "$credentials")
export CONFORMANCE_ACCESS_KEY="$access_key" CONFORMANCE_SECRET_KEY="$secret_key"

echo "== conformance mode 2: access control on, key $access_key, $base/graphql"
node "$here/audit.mjs" --mode key --url "$base/graphql" ||
  { status=1; failed_modes+=(key); }

echo "== conformance mode 3: access control on, key $access_key, $base/projects/$project_id/graphql"
node "$here/audit.mjs" --mode project --url "$base/projects/$project_id/graphql" ||
  { status=1; failed_modes+=(project); }

if [ "$status" -ne 0 ]; then
  echo "conformance: FAILED in mode(s): ${failed_modes[*]}"
  server_log
else
  echo "conformance: all three modes passed"
fi
exit "$status"
