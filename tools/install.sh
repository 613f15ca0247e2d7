#!/usr/bin/env bash
# tools/install.sh — install hakmem into PREFIX (run as `bazel run //:install -- PREFIX`).
#
# Installs, and writes the list of what it installed to
# PREFIX/share/hakmem/manifest (read by tools/uninstall.sh):
#   lib/libhakmem.so.VERSION, lib/libhakmem.so.SOVERSION -> it, lib/libhakmem.so -> that
#   include/hakmem.h, include/hakmem_stats.h, lib/pkgconfig/hakmem.pc
#   bin/hakmem (the launcher), share/man/man1/hakmem.1
# Nothing is written outside PREFIX. A relative PREFIX is taken from the
# directory bazel was started in (BUILD_WORKING_DIRECTORY), not from the
# runfiles tree bazel runs this script in. The --version ... --header flags
# come from //:install's args (tools/install.bzl).
set -euo pipefail

die() { echo "install: $*" >&2; exit 2; }

headers=()
prefix=""
while (($#)); do
  case "$1" in
    --version=*) version="${1#*=}" ;;
    --soversion=*) soversion="${1#*=}" ;;
    --lib=*) lib="${1#*=}" ;;
    --bin=*) bin="${1#*=}" ;;
    --man=*) man="${1#*=}" ;;
    --header=*) headers+=("${1#*=}") ;;
    --help | -h) echo "usage: bazel run //:install -- PREFIX"; exit 0 ;;
    -*) die "unknown flag $1 (usage: bazel run //:install -- PREFIX)" ;;
    *) [[ -z "$prefix" ]] || die "one PREFIX only (got '$prefix' and '$1')"; prefix="$1" ;;
  esac
  shift
done
[[ -n "$prefix" ]] || die "usage: bazel run //:install -- PREFIX   (for example ~/.local)"
for f in "$lib" "$bin" "$man" "${headers[@]}"; do [[ -f "$f" ]] || die "missing build output $f"; done

case "$prefix" in
  /*) ;;
  *) prefix="${BUILD_WORKING_DIRECTORY:-$PWD}/$prefix" ;;
esac
prefix="${prefix%/}"

manifest_dir="$prefix/share/hakmem"
manifest="$manifest_dir/manifest"
created_dirs=()
make_dir() {
  # Remember the directories this install creates: uninstall removes them
  # again when they are empty, and no others.
  local d="$1" missing=()
  while [[ ! -d "$d" ]]; do missing=("$d" "${missing[@]}"); d="$(dirname "$d")"; done
  for d in "${missing[@]}"; do
    mkdir "$d"
    [[ "$d" == "$prefix" ]] || created_dirs+=("$d")
  done
}
for d in bin lib/pkgconfig include share/man/man1 share/hakmem; do make_dir "$prefix/$d"; done

files=()
put() {  # put MODE SRC DEST (relative to PREFIX)
  install -m "$1" "$2" "$prefix/$3"
  files+=("$3")
}
put 0755 "$lib" "lib/libhakmem.so.$version"
ln -sfn "libhakmem.so.$version" "$prefix/lib/libhakmem.so.$soversion"
files+=("lib/libhakmem.so.$soversion")
ln -sfn "libhakmem.so.$soversion" "$prefix/lib/libhakmem.so"
files+=("lib/libhakmem.so")
for h in "${headers[@]}"; do put 0644 "$h" "include/$(basename "$h")"; done
put 0755 "$bin" "bin/hakmem"
put 0644 "$man" "share/man/man1/hakmem.1"

# -Wl,-rpath: a program built with `pkg-config --libs hakmem` finds
# libhakmem.so.SOVERSION in PREFIX/lib at run time without LD_LIBRARY_PATH.
cat > "$prefix/lib/pkgconfig/hakmem.pc" <<PC
prefix=$prefix
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: hakmem
Description: call-site-aware memory allocator (the hak_* API; linking it also replaces malloc)
Version: $version
Cflags: -I\${includedir}
Libs: -L\${libdir} -Wl,-rpath,\${libdir} -lhakmem
PC
files+=("lib/pkgconfig/hakmem.pc")

{
  echo "# hakmem $version installed in $prefix; bazel run //:uninstall -- $prefix removes it"
  for f in "${files[@]}"; do echo "file $f"; done
  echo "file share/hakmem/manifest"
  # Deepest first, so that uninstall can remove them in order.
  for ((k = ${#created_dirs[@]} - 1; k >= 0; k--)); do echo "dir ${created_dirs[k]#"$prefix"/}"; done
} > "$manifest.tmp"
# An earlier install's directories stay listed: they were created by hakmem too.
if [[ -f "$manifest" ]]; then grep '^dir ' "$manifest" >> "$manifest.tmp" || true; fi
mv "$manifest.tmp" "$manifest"

echo "installed hakmem $version in $prefix:"
for f in "${files[@]}"; do echo "  $prefix/$f"; done
echo "uninstall: bazel run //:uninstall -- $prefix"
case ":${PATH:-}:" in
  *":$prefix/bin:"*) ;;
  *) echo "note: $prefix/bin is not on PATH; run: export PATH=\"$prefix/bin:\$PATH\"" ;;
esac
