#!/usr/bin/env bash
# tools/release_checks_cost.sh — what release mode's checks cost on the
# comparison suite.
#
# Builds libhakmem.so twice: as shipped, and as the measurement build
# `--define hak_release_checks=off` (the pools' free neither tests nor stores
# the freed-block key, free-list links are not encoded, no segment guards or
# frontier check, no unmap at a site's first large free; never a default,
# hakmem/config.h). Runs `//compare:all`'s workloads with both, interleaved,
# in one run, and prints per workload the ratio of median ns/op, checks on
# over checks off, and their geometric mean over the general workloads (the
# suite's own geomean set).
#
# Usage: tools/release_checks_cost.sh [REPS] [extra //compare:all flags...]
#   REPS defaults to 5. Example: tools/release_checks_cost.sh 3 --scale 0.5
# Output: the table on stdout; the run's report.txt and results.json under
# a temporary directory it names.
set -euo pipefail
cd "$(dirname "$0")/.."

reps=${1:-5}
shift || true
tmp=$(mktemp -d /tmp/hakmem-checks-cost.XXXXXX)

bazel build --define hak_release_checks=off //hakmem:libhakmem.so
cp -L bazel-bin/hakmem/libhakmem.so "$tmp/libhakmem-nochecks.so"
# bazel run builds the shipped library again (the define is not part of the
# output path, so the file above would otherwise be overwritten in place).
bazel run //compare:all -- --allocators "hakmem-BALANCED,hakmem-nochecks=$tmp/libhakmem-nochecks.so" \
  --reps "$reps" --no-history --no-report --out "$tmp/out" --quiet "$@" >"$tmp/report.txt"

results=$(ls -d "$tmp"/out/*/ | grep -v latest | tail -1)results.json
python3 - "$results" <<'EOF'
import json, math, sys
d = json.load(open(sys.argv[1]))
med = {(r["workload"], r["allocator"]): r.get("ns_per_op_median") for r in d["results"]}
general = set(d["geomean"]["workloads"])
rows, logs = [], []
for w in dict.fromkeys(r["workload"] for r in d["results"]):
    on, off = med.get((w, "hakmem-BALANCED")), med.get((w, "hakmem-nochecks"))
    if not on or not off:
        rows.append((w, "-", ""))
        continue
    rows.append((w, "%.3f" % (on / off), "general" if w in general else ""))
    if w in general:
        logs.append(math.log(on / off))
print("%-18s %-10s %s" % ("workload", "on / off", "kind"))
for w, r, k in rows:
    print("%-18s %-10s %s" % (w, r, k))
if logs:
    print("geomean (general, %d workloads): %.3f" % (len(logs), math.exp(sum(logs) / len(logs))))
print("results: %s" % sys.argv[1])
EOF
