"""statistics.py — from runs to results: medians, nearest-rank p95, the
checksum vote, one result per workload x allocator cell, ratios to the
reference allocator, the geometric mean over the general workloads, paired
per-repetition ratios and the VM headline.

Pure functions over the run and result dicts of the schema: nothing here
starts a process, reads a file or changes its arguments (aggregate and
vote_checksums return new lists).

Called by: runner.py, learning.py, the unit tests (statistics_test.py).
"""

import math

from compare import tables

VM_TARGET_SPEEDUP = 13.95  # the original design's VM result: BALANCED vs MINIMAL


def median(xs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def p95(xs):
    """Nearest-rank 95th percentile (with 5 repetitions it is the slowest run)."""
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    return xs[max(0, math.ceil(0.95 * len(xs)) - 1)]


def op_ns(run):
    """The number a run is judged by: the workload's own ns per op, or for a
    launch workload (run["launches"]) the median wall time per process."""
    if run.get("launches"):
        return run["wall_ns"]
    return run["inside"]["ns_per_op"]


def reference(alloc_names):
    """The allocator the report's ratios use: the first peer that ran (mimalloc, jemalloc, tcmalloc), else glibc, else None."""
    return next((a for a in tables.REFERENCE_ORDER if a in alloc_names), None)


def vote_checksums(runs):
    """Copies of the runs, where an ok run whose checksum differs from the one
    most runs of its workload read back is a checksum_mismatch. The checksum is
    a pure function of workload, scale and seed: every allocator must read back
    the same bytes."""
    counts = {}
    for r in runs:
        if r["status"] == "ok" and r.get("inside"):
            c = counts.setdefault(r["workload"], {})
            c[r["inside"]["checksum"]] = c.get(r["inside"]["checksum"], 0) + 1
    out = []
    for r in runs:
        r = dict(r)
        if r["status"] == "ok" and r.get("inside"):
            c = counts[r["workload"]]
            want = max(c, key=c.get)
            if r["inside"]["checksum"] != want:
                r["status"] = "checksum_mismatch"
                r["message"] = "read back checksum %s, other allocators %s" % (r["inside"]["checksum"], want)
        out.append(r)
    return out


def failures(bad):
    return [{"rep": r["rep"], "status": r["status"], "message": r["message"][:400]} for r in bad]


def set_ratios(results, key, ref, value, ratio_keys):
    """Per row (results sharing `key`): ratio of `value` to ref's and to each
    allocator of ratio_keys (None where that base did not run or failed), and
    the best ok cell (lowest value)."""
    rows = {}
    for r in results:
        rows.setdefault(r[key], []).append(r)
    for row in rows.values():
        by = {r["allocator"]: r for r in row}
        for r in row:
            for name, base_name in [("ratio_to_reference", ref)] + [("ratio_to_" + a, a) for a in ratio_keys]:
                base = by.get(base_name)
                if base and base["status"] == "ok" and r[value] is not None and base[value]:
                    r[name] = r[value] / base[value]
        good = [r for r in row if r["status"] == "ok" and r[value] is not None]
        if good:
            min(good, key=lambda r: r[value])["best"] = True


def aggregate(cells, runs, ref=None):
    """One result per (workload id, allocator) of cells, in that order:
    medians over its ok runs, failures kept. ref: the reference allocator
    (ratio_to_reference). runs: already through vote_checksums."""
    results = []
    for wid, name in cells:
        mine = [r for r in runs if r["workload"] == wid and r["allocator"] == name]
        ok = [r for r in mine if r["status"] == "ok"]
        bad = [r for r in mine if r["status"] != "ok"]
        res = {
            "workload": wid, "allocator": name, "status": "ok" if ok and not bad else "failed",
            "n_ok": len(ok), "n_failed": len(bad), "failures": failures(bad),
            "wall_ms_median": None, "wall_ms_p95": None, "ns_per_op_median": None, "ns_per_op_p95": None,
            "ops": None, "minflt_median": None, "maxrss_kb_median": None, "maxrss_kb_max": None,
            "instructions": None, "extra": {}, "ratio_to_mimalloc": None, "ratio_to_glibc": None,
            "ratio_to_reference": None, "best": False,
        }
        if ok:
            wall = [r["wall_ns"] / 1e6 for r in ok]
            nsop = [op_ns(r) for r in ok]
            res["wall_ms_median"] = median(wall)
            res["wall_ms_p95"] = p95(wall)
            res["ns_per_op_median"] = median(nsop)
            res["ns_per_op_p95"] = p95(nsop)
            res["ops"] = ok[0]["inside"]["ops"]
            res["minflt_median"] = median([r["minflt"] for r in ok])
            res["maxrss_kb_median"] = median([r["maxrss_kb"] for r in ok])
            res["maxrss_kb_max"] = max(r["maxrss_kb"] for r in ok)
            ins = [r["instructions"] for r in ok if r.get("instructions") is not None]
            res["instructions"] = median(ins) if ins else None
            keys = sorted(set().union(*(r["inside"].get("extra", {}).keys() for r in ok)))
            res["extra"] = {k: median([r["inside"]["extra"].get(k) for r in ok]) for k in keys}
        results.append(res)
    set_ratios(results, "workload", ref, "ns_per_op_median", ("mimalloc", "glibc"))
    return results


def aggregate_commands(cells, runs, ref=None):
    """One result per (command name, allocator) of cells: wall time, peak RSS
    and faults over the ok runs; ratios of wall time to ref's."""
    results = []
    for cid, name in cells:
        mine = [r for r in runs if r["workload"] == cid and r["allocator"] == name]
        ok = [r for r in mine if r["status"] == "ok"]
        bad = [r for r in mine if r["status"] != "ok"]
        wall = [r["wall_ns"] / 1e6 for r in ok]
        results.append({
            "command": cid, "allocator": name, "status": "ok" if ok and not bad else "failed",
            "n_ok": len(ok), "n_failed": len(bad), "failures": failures(bad),
            "wall_ms_median": median(wall), "wall_ms_p95": p95(wall),
            "maxrss_kb_median": median([r["maxrss_kb"] for r in ok]),
            "maxrss_kb_max": max([r["maxrss_kb"] for r in ok if r["maxrss_kb"] is not None], default=None),
            "minflt_median": median([r["minflt"] for r in ok]), "majflt_median": median([r["majflt"] for r in ok]),
            "ratio_to_reference": None, "best": False,
        })
    set_ratios(results, "command", ref, "wall_ms_median", ())
    return results


def geomean(results, workload_kinds, alloc_names, ref):
    """The geometric mean over the general workloads of each allocator's ns/op
    ratio to ref. An allocator with a failed cell among them gets None: a
    failure must not improve the mean."""
    wids = [w for w, kind in workload_kinds if kind == tables.GENERAL]
    by = {(r["workload"], r["allocator"]): r for r in results}
    out = {"reference": ref, "workloads": wids, "ratio": {}}
    for a in alloc_names:
        logs = []
        for w in wids:
            r, base = by.get((w, a)), by.get((w, ref))
            if not (r and base and r["status"] == "ok" and base["status"] == "ok"
                    and r["ns_per_op_median"] and base["ns_per_op_median"]):
                logs = None
                break
            logs.append(math.log(r["ns_per_op_median"] / base["ns_per_op_median"]))
        out["ratio"][a] = math.exp(sum(logs) / len(logs)) if logs else None
    return out


def rss_kb(run):
    """A run's peak RSS (the workload's own VmHWM)."""
    return run["maxrss_kb"]


def paired_ratios(runs, wid, a, b, value=op_ns):
    """a's value over b's in each repetition where both ran ok (value: ns/op
    by default, or e.g. rss_kb), in repetition order."""
    per = {}
    for r in runs:
        if r["workload"] == wid and r["status"] == "ok" and r["allocator"] in (a, b):
            per.setdefault(r["rep"], {})[r["allocator"]] = value(r)
    return [v[a] / v[b] for _, v in sorted(per.items()) if v.get(a) is not None and v.get(b)]


def paired_ratio(runs, wid, a, b, value=op_ns):
    """Median over repetitions of a's ns/op over b's in the same repetition
    (None with fewer than 2 such pairs). The runs of one repetition are
    adjacent in time, so a slow spell of the machine slows both sides of a
    pair: the paired ratio carries less of that noise than a ratio of medians."""
    ratios = paired_ratios(runs, wid, a, b, value)
    return median(ratios) if len(ratios) >= 2 else None


def median_interval(xs, confidence=0.95):
    """A distribution-free confidence interval of the median of xs, as (low,
    high, coverage): the order statistics (k-th smallest, k-th largest) with
    the largest k for which Binomial(n, 1/2) puts at most (1 - confidence) / 2
    below k, and the coverage that k really gives, 1 - 2 P(B < k). With few
    values no k reaches the confidence and it is (min, max), whose coverage
    is then 1 - 2^(1-n): 75% with 3 values, 94% with 5, 98% with 7. None with
    fewer than 2 values."""
    xs = sorted(x for x in xs if x is not None)
    n = len(xs)
    if n < 2:
        return None
    tail, k, cdf = (1 - confidence) / 2, 1, 0.0
    for j in range(n // 2):  # cdf = P(B <= j)
        cdf += math.comb(n, j) / 2.0 ** n
        if cdf > tail:
            break
        k = j + 1
    below = sum(math.comb(n, j) for j in range(k)) / 2.0 ** n
    return xs[k - 1], xs[n - k], 1 - 2 * below


def group_runs(runs, wid, members, name):
    """One run per repetition for a group of allocators: the median of its
    members' ns/op (and peak RSS) in that repetition, under allocator `name`."""
    per, rss = {}, {}
    for r in runs:
        if r["workload"] == wid and r["status"] == "ok" and r["allocator"] in members:
            per.setdefault(r["rep"], []).append(op_ns(r))
            rss.setdefault(r["rep"], []).append(r.get("maxrss_kb"))
    return [{"workload": wid, "allocator": name, "rep": rep, "status": "ok", "inside": {"ns_per_op": median(v)},
             "maxrss_kb": median(rss[rep])} for rep, v in sorted(per.items())]


def pairs(results, runs, extras):
    """Each extra allocator of a workload against its base (extras: [(workload
    id, extra, base)]): the ratio of their ns/op medians and the paired
    per-repetition ratio (None with fewer than 2 repetitions with both ok)."""
    by = {(r["workload"], r["allocator"]): r for r in results}
    out = []
    for wid, extra, base in extras:
        e, b = by.get((wid, extra)), by.get((wid, base))
        ratio = None
        if e and b and e["status"] == "ok" and b["status"] == "ok" and b["ns_per_op_median"]:
            ratio = e["ns_per_op_median"] / b["ns_per_op_median"]
        out.append({"workload": wid, "allocator": extra, "base": base, "ratio": ratio,
                    "paired_ratio": paired_ratio(runs, wid, extra, base) if ratio is not None else None})
    return out


def headline(results):
    """The VM numbers: hakmem MINIMAL vs BALANCED, median ns per iteration."""
    by = {(r["workload"], r["allocator"]): r for r in results}
    mn, bl = by.get(("vm", "hakmem-MINIMAL")), by.get(("vm", "hakmem-BALANCED"))
    h = {"vm_minimal_iter_median_ns": None, "vm_balanced_iter_median_ns": None, "vm_speedup_balanced_vs_minimal": None,
         "vm_target_speedup": VM_TARGET_SPEEDUP}
    if mn and bl and mn["status"] == "ok" and bl["status"] == "ok":
        a, b = mn["extra"].get("iter_median_ns"), bl["extra"].get("iter_median_ns")
        h["vm_minimal_iter_median_ns"], h["vm_balanced_iter_median_ns"] = a, b
        if a and b:
            h["vm_speedup_balanced_vs_minimal"] = a / b
    return h
