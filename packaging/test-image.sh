#!/usr/bin/env bash
# CI check of the container image (Containerfile): builds it with podman,
# checks its metadata (user, entry point, environment, volume, port, health
# check), then starts the binary taken out of the image, with the image's
# own libraries and environment, on an empty state directory outside any
# container, and reaches /livez and /readyz, and the health check's command.
#
# Containers cannot run on the CI machine kind (no nested namespaces): the
# binary runs by chroot into the mounted image instead, as the image's user,
# so nothing of the host's file system (no host library) is within its reach.
# Run as root (podman image mount, chroot).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "test-image: run as root (podman image mount, chroot)" >&2
  exit 1
fi

tag=localhost/keyward:ci-test
work=$(mktemp -d)
mounted=
bound=
server=
cleanup() {
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  [ -n "$bound" ] && umount "$bound" 2>/dev/null
  [ -n "$mounted" ] && podman image unmount "$tag" >/dev/null 2>&1
  podman rmi -f "$tag" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "test-image: $*" >&2
  [ -f "$work/server.log" ] && tail -n 40 "$work/server.log" >&2
  exit 1
}

packaging/build-image.sh "$tag"

# --- Metadata.
inspect() { podman image inspect --format "$1" "$tag"; }
expect() { # expect WHAT ACTUAL EXPECTED
  [ "$2" = "$3" ] || fail "$1 is '$2', expected '$3'"
}
expect user "$(inspect '{{.Config.User}}')" 10001:10001
expect entrypoint "$(inspect '{{json .Config.Entrypoint}}')" '["/usr/bin/keyward","serve"]'
expect volumes "$(inspect '{{json .Config.Volumes}}')" '{"/var/lib/keyward":{}}'
expect ports "$(inspect '{{json .Config.ExposedPorts}}')" '{"8080/tcp":{}}'
expect healthcheck "$(inspect '{{json .Config.Healthcheck.Test}}')" \
  '["CMD","/usr/bin/wget","-q","--spider","http://127.0.0.1:8080/livez"]'
mapfile -t image_env < <(inspect '{{range .Config.Env}}{{println .}}{{end}}' | grep .)
printf '%s\n' "${image_env[@]}" | grep -qx 'KEYWARD_LISTEN=0.0.0.0:8080' || fail "not listening on all interfaces"
printf '%s\n' "${image_env[@]}" | grep -qx 'DATABASE_URL=sqlite:///var/lib/keyward/keyward.db?mode=rwc' ||
  fail "the database is not on the volume"

mounted=$(podman image mount "$tag")
[ "$(stat -c '%u:%g %a' "$mounted/var/lib/keyward")" = "10001:10001 700" ] ||
  fail "/var/lib/keyward in the image is $(stat -c '%u:%g %a' "$mounted/var/lib/keyward")"
# Nothing but keyward, its libraries, the health check and the user's files.
find "$mounted" -mindepth 1 -not -type d | sed "s|^$mounted||" | sort >"$work/files"
unexpected=$(grep -Ev '^/usr/bin/(keyward|wget)$|^/etc/(passwd|group)$|^/(usr/)?lib(64|/x86_64-linux-gnu)?/[^/]+\.so[.0-9]*$' "$work/files" || true)
[ -z "$unexpected" ] || fail "unexpected files in the image: $unexpected"
echo "test-image: metadata and contents checked: $(wc -l <"$work/files") files"

# --- The binary inside, on an empty state directory outside the container,
# mounted where the volume would be.
state="$work/state"
install -d -o 10001 -g 10001 -m 0700 "$state"
mount --bind "$state" "$mounted/var/lib/keyward"
bound="$mounted/var/lib/keyward"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
env -i "${image_env[@]}" KEYWARD_LISTEN="127.0.0.1:$port" \
  chroot --userspec=10001:10001 "$mounted" /usr/bin/keyward serve >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 60); do
  curl -fsS "$base/livez" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || fail "the image's binary exited"
  sleep 0.5
done
curl -fsS "$base/livez" >/dev/null || fail "the image's binary did not answer /livez"
curl -fsS "$base/readyz" >/dev/null || fail "the image's binary is not ready"
[ "$(stat -c %u "$state/keyward.db")" = 10001 ] || fail "no database of user 10001 on the volume"
# The health check's own command, from inside the image.
chroot --userspec=10001:10001 "$mounted" /usr/bin/wget -q --spider "$base/livez" ||
  fail "the health check's command fails"
echo "test-image: the image's binary served /livez and /readyz on an empty volume; health check passed"

# --- The Kubernetes manifest of docs/deploy/ agrees with the image.
python3 - docs/deploy/kubernetes.yaml <<'PY' || fail "docs/deploy/kubernetes.yaml disagrees with the image"
import sys, yaml
docs = {d["kind"]: d for d in yaml.safe_load_all(open(sys.argv[1]))}
assert set(docs) == {"PersistentVolumeClaim", "Deployment", "Service"}, docs.keys()
pod = docs["Deployment"]["spec"]["template"]["spec"]
(container,) = pod["containers"]
assert pod["securityContext"]["runAsUser"] == 10001
assert container["ports"] == [{"name": "http", "containerPort": 8080}]
assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
claim = {v["name"]: v.get("persistentVolumeClaim", {}).get("claimName") for v in pod["volumes"]}
assert claim[mounts["/var/lib/keyward"]] == docs["PersistentVolumeClaim"]["metadata"]["name"]
assert docs["Service"]["spec"]["ports"][0]["targetPort"] == "http"
PY
echo "test-image: docs/deploy/kubernetes.yaml's probes, port, user and volume match the image"
