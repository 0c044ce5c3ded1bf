#!/usr/bin/env bash
# Re-downloads the vendored browser libraries from the npm registry, checks
# each tarball against its pinned sha512 integrity, and copies only the files
# the pages use into web/vendor/<name>-<version>/ (with the package's LICENSE).
#
#   web/vendor/update.sh            # re-fetch and verify, rewrite the files
#
# To move to a new version: change the version and integrity below (take the
# integrity from `npm view <pkg>@<version> dist.integrity`), update the paths
# in web/graphiql.html, run this script, update VENDORED.md, delete the old
# folder. Needs npm and node; touches nothing outside web/vendor/.
set -euo pipefail

cd "$(dirname "$0")"
VENDOR_DIR=$(pwd)

# name | version | npm dist.integrity | destination folder | files to copy
# (package-relative; "src:name" copies under another name; space-separated)
PACKAGES=(
  "graphiql|3.9.0|sha512-rJYFlHdBbug9+YbFSwRVvgfPjCayC7wHecZkx/qB4XLuQPFQZw/yB9pmHFtOJV6RiNBBHro3u1GdocKa3YcGRA==|graphiql-3.9.0|graphiql.min.js graphiql.min.css LICENSE"
  "react|18.3.1|sha512-wS+hAgJShR0KhEvPJArfuPVN1+Hz1t0Y6n5jLrGQbkb4urgPE/0Rve+1kMB1v/oWgHgm4WIcV+i7F2pTVj+2iQ==|react-18.3.1|umd/react.production.min.js LICENSE"
  "react-dom|18.3.1|sha512-5m4nQKp+rZRb09LNH59GM4BxTh9251/ylbKIbpe7TpGxfJ+9kv6BLkLBXIjjspbgbnIBNqlI23tRnTWT0snUIw==|react-dom-18.3.1|umd/react-dom.production.min.js LICENSE"
  # graphiql.min.css embeds the Fira Code and Roboto fonts (data: URIs), both
  # under the SIL Open Font License 1.1: their licence texts, from Fontsource.
  "@fontsource/fira-code|5.3.0|sha512-EJL968RJRkakubAj/coU8pSUaeTE5UNoRjtzAr6kGiSZ3jWuN8/AKWHwym/PFUaQL1q7IL/H+EXs4358YhrTBQ==|graphiql-3.9.0|LICENSE:LICENSE-font-fira-code"
  "@fontsource/roboto|5.3.0|sha512-BapRJOWYP+LZ21zp+wBQjfpPYKRoxc4LspJ/RLuI+HSMBD5u/X4O+ESDrSvEqDSy0rAl7GwBJ+09mdc16cVQ1Q==|graphiql-3.9.0|LICENSE:LICENSE-font-roboto"
)

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# Folders are rewritten from scratch, once each, before any file lands in them.
declare -A CLEANED=()

for entry in "${PACKAGES[@]}"; do
  IFS='|' read -r name version integrity folder files <<<"$entry"
  echo "==> $name@$version"

  # npm pack writes <name>-<version>.tgz and prints its file name last.
  tarball=$(cd "$WORK" && npm pack --silent "$name@$version" | tail -n 1)
  actual="sha512-$(node -e '
    const data = require("fs").readFileSync(process.argv[1]);
    process.stdout.write(require("crypto").createHash("sha512").update(data).digest("base64"));
  ' "$WORK/$tarball")"
  if [[ "$actual" != "$integrity" ]]; then
    echo "integrity mismatch for $name@$version:" >&2
    echo "  expected $integrity" >&2
    echo "  got      $actual" >&2
    exit 1
  fi

  unpacked="$WORK/unpacked-${tarball%.tgz}"
  mkdir -p "$unpacked"
  tar -xzf "$WORK/$tarball" -C "$unpacked"

  dest="$VENDOR_DIR/$folder"
  if [[ -z "${CLEANED[$folder]:-}" ]]; then
    rm -rf "$dest"
    mkdir -p "$dest"
    CLEANED[$folder]=1
  fi
  for spec in $files; do
    src=${spec%%:*}
    target=$(basename "$src")
    [[ "$spec" == *:* ]] && target=${spec#*:}
    cp "$unpacked/package/$src" "$dest/$target"
  done
  echo "    verified $integrity"
done

echo "==> sha256 of the vendored files (compare with VENDORED.md)"
(cd "$VENDOR_DIR" && find . -type f ! -name '*.md' ! -name '*.sh' | LC_ALL=C sort | xargs sha256sum)
