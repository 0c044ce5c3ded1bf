#!/usr/bin/env bash
# Builds keyward's container image (Containerfile) from the release binary,
# without pulling anything: stages the build context in
# $TARGET/image-context/ (the binary, exactly the shared libraries and the
# loader `ldd` lists for it, Debian's static busybox as `wget` for the health
# check, /etc/passwd and /etc/group for the user 10001) and builds the image
# with podman (or $BUILDER).
#
#   packaging/build-image.sh [TAG]      # default tag: keyward:<version>
#   BUILDER=docker packaging/build-image.sh
#
# Needs podman (or docker) and busybox-static (apt-get install podman
# busybox-static).
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
tag=${1:-keyward:$version}
target=${CARGO_TARGET_DIR:-target}
busybox=/bin/busybox
builder=${BUILDER:-podman}

cargo build --release --locked
binary="$target/release/keyward"
if ! file -L "$busybox" 2>/dev/null | grep -q 'statically linked'; then
  echo "build-image: $busybox is not a static busybox (apt-get install busybox-static)" >&2
  exit 1
fi

context="$target/image-context"
rm -rf "$context"
mkdir -p "$context/rootfs/usr/bin" "$context/rootfs/etc" "$context/rootfs/var/lib"
install -d -m 0700 "$context/state/keyward"
install -m 0755 "$binary" "$context/rootfs/usr/bin/keyward"
# busybox runs the applet its name says: under this name, only wget.
install -m 0755 "$busybox" "$context/rootfs/usr/bin/wget"

# Every library `ldd` resolves, and the loader, at the paths the binary
# names them by (the loader's own default directories find the rest).
ldd "$binary" | grep -o '/[^ ]*' | sort -u | while read -r library; do
  mkdir -p "$context/rootfs$(dirname "$library")"
  cp -L "$library" "$context/rootfs$library"
done

printf 'root:x:0:0:root:/:/nonexistent\nkeyward:x:10001:10001:keyward:/var/lib/keyward:/nonexistent\n' \
  >"$context/rootfs/etc/passwd"
printf 'root:x:0:\nkeyward:x:10001:\n' >"$context/rootfs/etc/group"
install -d -m 1777 "$context/rootfs/tmp"

# podman writes OCI metadata by default, which has no HEALTHCHECK.
format=()
[ "$builder" = podman ] && format=(--format docker)
"$builder" build "${format[@]}" -f Containerfile -t "$tag" "$context"
echo "build-image: built $tag"
