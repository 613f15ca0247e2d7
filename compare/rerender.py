"""rerender.py — prints the text report (report.py) of a saved results.json,
optionally with its learning verdicts recomputed by the current learning.py
(--recompute), so that a change of the verdict rules can be shown on the same
measurements: the runs are kept in the file, the verdicts derive from them.

Usage: bazel run //compare:rerender -- [--recompute] [--static-vs-fixed] [--write] RESULTS.json
(a relative path is taken from the directory bazel run was started from).
--write saves the recomputed document and report.txt beside a copy of the
file (results.recomputed.json, report.recomputed.txt), never over it.
--static-vs-fixed adds the static default against every group of alike fixed
strategies (not only the best), by time and by CPU time: where (b) could apply.

Called by: //compare:rerender, report_test.py (main). Python 3 standard library only.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from compare import learning, report  # noqa: E402


def rerender(doc, recompute):
    """The text report of doc; with recompute, doc's "learning" is first
    replaced by learning.doc_summary(doc) (doc itself is left unchanged)."""
    if recompute:
        doc = dict(doc)
        ls = learning.doc_summary(doc)
        doc.pop("learning", None)
        if ls:
            doc["learning"] = ls
    return doc, report.text_report(doc)


def static_vs_fixed_lines(doc):
    """Per workload with the static default: static / each group of alike
    fixed strategies, paired, by time and by CPU time (where the workload
    reports it), and the groups static is beyond noise slower than."""
    out = ["", "%s / each fixed group (alike strategies as one), medians of per-repetition ratios [interval]; "
           "'beyond noise slower than': the interval lies above 1.00:" % learning.tables.STATIC]
    for w in doc["workloads"]:
        for what, value in (("time", None), ("CPU time", learning.cpu_ns)):
            groups = learning.static_vs_groups(doc, w["id"], value) if value else learning.static_vs_groups(doc, w["id"])
            if not groups:
                continue
            slower = [learning.alike_label(m)[len("hakmem-"):] for m, r, iv, _ in groups
                      if learning.beyond_noise_above(r, iv)]
            out.append("  %-10s %-8s %s; beyond noise slower than: %s" % (
                w["id"], what, ", ".join("%s %s" % (learning.alike_label(m)[len("hakmem-"):], learning.fmt_stat(r, iv))
                                         for m, r, iv, _ in groups), ", ".join(slower) or "none"))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(prog="rerender", description="print the text report of a results.json")
    p.add_argument("results", help="results.json of a run")
    p.add_argument("--recompute", action="store_true", help="recompute the learning verdicts with the current code")
    p.add_argument("--static-vs-fixed", action="store_true",
                   help="also print the static default against every fixed group (time and CPU time), paired")
    p.add_argument("--write", action="store_true",
                   help="with --recompute: also write results.recomputed.json and report.recomputed.txt beside it")
    a = p.parse_args(argv)
    path = a.results
    if not os.path.isabs(path):
        path = os.path.join(os.environ.get("BUILD_WORKING_DIRECTORY") or os.getcwd(), path)
    with open(path) as f:
        doc = json.load(f)
    doc, text = rerender(doc, a.recompute)
    sys.stdout.write(text)
    if a.static_vs_fixed:
        sys.stdout.write("\n".join(static_vs_fixed_lines(doc)) + "\n")
    if a.write and a.recompute:
        base = os.path.dirname(path)
        with open(os.path.join(base, "results.recomputed.json"), "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
        with open(os.path.join(base, "report.recomputed.txt"), "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
