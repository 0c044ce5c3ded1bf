#!/usr/bin/env bash
# CI check of the Debian package (Cargo.toml's [package.metadata.deb]): build
# it with cargo-deb, install it with dpkg on this machine, start the installed
# binary as the `keyward` user with the installed unit's environment and
# /etc/default/keyward, reach /livez, create and use a key, upgrade to a
# package of a higher version and use the key again, then remove (the
# database stays) and purge (it goes).
#
# The CI machine has no running systemd: the server is started the way the
# unit starts it (its Environment= lines, then its EnvironmentFile, as its
# User in its WorkingDirectory with its UMask); the unit file itself is
# checked by tests/api/deploy.rs with systemd-analyze. Run as root (it
# installs a package); it purges the package at the end, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "test-deb: run as root (dpkg -i)" >&2
  exit 1
fi
if dpkg-query -W -f '${Status}' keyward 2>/dev/null | grep -q installed; then
  echo "test-deb: a keyward package is installed already; purge it first" >&2
  exit 1
fi
command -v cargo-deb >/dev/null 2>&1 || cargo install cargo-deb --locked

work=$(mktemp -d)
server=
stop_server() {
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    server=
  fi
}
cleanup() {
  stop_server
  dpkg -P keyward >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "test-deb: $*" >&2
  [ -f "$work/server.log" ] && tail -n 40 "$work/server.log" >&2
  exit 1
}

# --- Build two packages: this version, and the same with a higher version.
cargo deb --locked --output "$work/first.deb"
version=$(dpkg-deb -f "$work/first.deb" Version)
upgrade_version="${version%-*}+ci.upgrade-1"
dpkg --compare-versions "$upgrade_version" gt "$version" ||
  fail "$upgrade_version is not higher than $version"
cargo deb --no-build --deb-version "$upgrade_version" --output "$work/upgrade.deb"
echo "test-deb: built $version and $upgrade_version"

# --- Install.
dpkg -i "$work/first.deb"
unit=$(dpkg -L keyward | grep '/systemd/system/keyward\.service$') ||
  fail "no keyward.service in the package"
for file in /usr/bin/keyward /etc/default/keyward; do
  [ -f "$file" ] || fail "$file is not installed"
done
grep -qx /etc/default/keyward /var/lib/dpkg/info/keyward.conffiles ||
  fail "/etc/default/keyward is not a conffile"
[ "$(stat -c %a /etc/default/keyward)" = 600 ] || fail "/etc/default/keyward is not mode 0600"
grep -qx 'ExecStart=/usr/bin/keyward serve' "$unit" || fail "$unit does not start /usr/bin/keyward"
grep -qx 'EnvironmentFile=-/etc/default/keyward' "$unit" || fail "$unit does not read /etc/default/keyward"
getent passwd keyward >/dev/null || fail "no keyward user"
[ "$(getent passwd keyward | cut -d: -f6)" = /var/lib/keyward ] || fail "keyward's home is not /var/lib/keyward"
[ "$(stat -c '%U:%G %a' /var/lib/keyward)" = "keyward:keyward 700" ] ||
  fail "/var/lib/keyward is $(stat -c '%U:%G %a' /var/lib/keyward)"
[ -L /etc/systemd/system/multi-user.target.wants/keyward.service ] ||
  fail "the unit is not enabled"
/usr/bin/keyward --version

# The admin's edit of the conffile: a port of this run's own. The upgrade
# must keep it.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
echo "KEYWARD_LISTEN=127.0.0.1:$port" >>/etc/default/keyward
base="http://127.0.0.1:$port"

# Starts the installed binary as keyward.service would.
start_server() {
  local unit_env file_env
  mapfile -t unit_env < <(sed -n 's/^Environment=//p' "$unit")
  mapfile -t file_env < <(grep -Ev '^[[:space:]]*(#|$)' /etc/default/keyward)
  (
    cd /var/lib/keyward
    umask 0077
    exec setpriv --reuid keyward --regid keyward --init-groups --no-new-privs \
      env -i PATH=/usr/bin:/bin "${unit_env[@]}" "${file_env[@]}" \
      /usr/bin/keyward serve
  ) >>"$work/server.log" 2>&1 &
  server=$!
  for _ in $(seq 1 60); do
    if curl -fsS "$base/livez" >/dev/null 2>&1; then
      return
    fi
    kill -0 "$server" 2>/dev/null || fail "the installed server exited"
    sleep 0.5
  done
  fail "the installed server did not answer /livez"
}

# gql QUERY [CURL-ARGS...]: the data of a GraphQL request, or a failure.
gql() {
  local query=$1 response
  shift
  response=$(curl -sS "$base/graphql" -H 'Content-Type: application/json' \
    --data "$(jq -n --arg q "$query" '{query: $q}')" "$@") || fail "request failed: $query"
  jq -e '.errors == null' >/dev/null <<<"$response" || fail "$query: $response"
  jq -c .data <<<"$response"
}

admin=(-u 'admin:correct horse battery staple')
start_server
gql 'mutation { enableAccessControl(input: {username: "admin", password: "correct horse battery staple"}) { enabled } }' >/dev/null
project=$(gql 'mutation { createProject(input: {name: "packaged"}) { project { id } } }' "${admin[@]}" |
  jq -r .createProject.project.id)
key=$(gql "mutation { createApiKey(input: {projectId: \"$project\", name: \"ci\", role: MEMBER}) {
  secretKey apiKey { accessKey } } }" "${admin[@]}")
credentials="$(jq -r .createApiKey.apiKey.accessKey <<<"$key"):$(jq -r .createApiKey.secretKey <<<"$key")"
[ "$(gql '{ viewer { kind } }' -u "$credentials" | jq -r .viewer.kind)" = API_KEY ] ||
  fail "the new key is not accepted"
[ "$(stat -c %U /var/lib/keyward/keyward.db)" = keyward ] || fail "the database is not keyward's"
stop_server
echo "test-deb: installed server answered /livez and accepted a new key"

# --- Upgrade: the database and the edited conffile stay.
dpkg -i "$work/upgrade.deb"
[ "$(dpkg-query -W -f '${Version}' keyward)" = "$upgrade_version" ] || fail "not upgraded"
grep -qx "KEYWARD_LISTEN=127.0.0.1:$port" /etc/default/keyward || fail "the upgrade lost /etc/default/keyward's edit"
start_server
[ "$(gql '{ viewer { kind } }' -u "$credentials" | jq -r .viewer.kind)" = API_KEY ] ||
  fail "the key is not accepted after the upgrade"
stop_server
echo "test-deb: after the upgrade to $upgrade_version the key still works"

# --- Remove keeps the database; purge removes it and the conffile.
dpkg -r keyward
[ ! -e /usr/bin/keyward ] || fail "dpkg -r left /usr/bin/keyward"
[ -f /var/lib/keyward/keyward.db ] || fail "dpkg -r removed the database"
dpkg -P keyward
[ ! -e /var/lib/keyward ] || fail "dpkg -P left /var/lib/keyward"
[ ! -e /etc/default/keyward ] || fail "dpkg -P left /etc/default/keyward"
echo "test-deb: remove kept /var/lib/keyward, purge removed it: passed"
