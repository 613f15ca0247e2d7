#!/usr/bin/env bash
# tools/uninstall.sh — remove what tools/install.sh put into PREFIX
# (`bazel run //:uninstall -- PREFIX`): exactly the files listed in
# PREFIX/share/hakmem/manifest, then the directories the install created, if
# they are empty. Without bazel, the same is:
#   sed -n 's/^file //p' PREFIX/share/hakmem/manifest | (cd PREFIX && xargs rm -f)
set -euo pipefail
die() { echo "uninstall: $*" >&2; exit 2; }
(($# == 1)) || die "usage: bazel run //:uninstall -- PREFIX"
prefix="$1"
case "$prefix" in
  /*) ;;
  *) prefix="${BUILD_WORKING_DIRECTORY:-$PWD}/$prefix" ;;
esac
prefix="${prefix%/}"
manifest="$prefix/share/hakmem/manifest"
[[ -f "$manifest" ]] || die "no hakmem install in $prefix ($manifest is missing)"
n=0
while read -r kind path; do
  [[ "$kind" == file ]] || continue
  case "$path" in /* | *..*) die "bad manifest entry '$path'" ;; esac
  if [[ -e "$prefix/$path" || -L "$prefix/$path" ]]; then rm -f "$prefix/$path"; n=$((n + 1)); fi
done < <(grep -v '^file share/hakmem/manifest$' "$manifest")
dirs=$(sed -n 's/^dir //p' "$manifest")
rm -f "$manifest"
n=$((n + 1))
for d in $dirs; do
  case "$d" in /* | *..*) continue ;; esac
  rmdir "$prefix/$d" 2>/dev/null || true
done
echo "removed $n files of hakmem from $prefix"
