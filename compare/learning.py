"""learning.py — the //compare:learning verdict: per workload, hakmem-LEARNING
against the best fixed strategy in hindsight and against hakmem-BALANCED.

Owns: which fixed strategies count as one (alike_groups: they route every
size the workload's sites asked for the same way), the best group, the paired
ratios and the verdict lines. Pure functions over run and result dicts.

Called by: runner.py (the "learning" object of results.json), the unit tests.
"""

from compare import statistics, tables


def fixed_threshold(alloc):
    """hakmem-T512K -> 524288: the large-block threshold a fixed strategy pins."""
    return tables.FIXED_BY_NAME[alloc].threshold


# A copy of bucket_route in hakmem/policy/evo.c, the source of truth (the
# learner counts alike arms with it); keep the two in step. This is the only
# copy in compare/ and dashboard/.
def bucket_route(t, b):
    """Where threshold t sends the requests of log2 size bucket b
    ([2^b, 2^(b+1))): all below it, all from it up, or split at t itself
    (unlike any other threshold)."""
    lo, hi = 1 << b, 2 << b
    if hi <= t:
        return "below"
    if lo >= t:
        return "above"
    return "split at %d" % t


def alike_groups(runs, wid, fixed):
    """The fixed strategies of one workload, grouped by how they route its
    requests: two are alike when every log2 size bucket that any learning
    site of any hakmem run of the workload reported (sizes_seen) goes the
    same way under both thresholds (BigCache admission is the same for all
    of them). Alike strategies run the same allocator code on the workload;
    their differences are noise, and the best of several noisy copies of one
    behaviour would be chosen for its luck. One group per strategy when the
    sizes are not known (a run without sizes_seen, or a site with none)."""
    singles = [[a] for a in fixed]
    seen = {}
    for r in runs:
        if r["workload"] != wid or r["status"] != "ok" or not r.get("learn"):
            continue
        for st in r["learn"].get("sites", []):
            b = st["learn"].get("sizes_seen")
            if not b:
                return singles
            seen.setdefault(st["name"], set()).update(b)
    if not seen:
        return singles
    groups = {}
    for a in fixed:
        t = fixed_threshold(a)
        key = tuple(bucket_route(t, b) for name in sorted(seen) for b in sorted(seen[name]))
        groups.setdefault(key, []).append(a)
    return list(groups.values())


def alike_label(members):
    """hakmem-T512K, or for a group of alike strategies hakmem-T512K=T1M=T2M."""
    return "hakmem-" + "=".join(a[len("hakmem-"):] for a in members)


def ok(r):
    return r is not None and r["status"] == "ok" and r["ns_per_op_median"]


def cpu(r):
    return r["extra"].get("cpu_ns_per_op") if ok(r) else None


def best_group(by, runs, wid, good):
    """The group of alike fixed strategies with the lowest median ns/op (a
    group's ns/op in one repetition is its members' median), as (members,
    fastest member, ns/op, CPU ns/op, the group's runs per repetition); None
    when no fixed strategy ran ok."""
    best = None
    for members in alike_groups(runs, wid, good):
        g_runs = statistics.group_runs(runs, wid, members, "group") if runs else []
        ns = statistics.median([x["inside"]["ns_per_op"] for x in g_runs]) if g_runs else statistics.median(
            [by[(wid, a)]["ns_per_op_median"] for a in members])
        if best is None or ns < best[2]:
            lead = min(members, key=lambda a: by[(wid, a)]["ns_per_op_median"])
            best = (members, lead, ns, statistics.median([cpu(by[(wid, a)]) for a in members]), g_runs)
    return best


def verdict_best(ratio, members):
    name = alike_label(members)
    if ratio <= tables.LEARNING_GOAL:
        return "met: within %.0f%% of %s" % ((tables.LEARNING_GOAL - 1) * 100, name)
    return "NOT met: %.0f%% slower than %s" % ((ratio - 1) * 100, name)


def verdict_balanced(ratio, balanced_is_best):
    """BALANCED is the default strategy: LEARNING should beat it where it is not the best."""
    if balanced_is_best:
        return "n/a: BALANCED is (within %.0f%%) the best; LEARNING %s it" % (
            (tables.LEARNING_GOAL - 1) * 100, "beats" if ratio < 1 else "is %.0f%% slower than" % ((ratio - 1) * 100))
    if ratio < 1:
        return "met: beats BALANCED by %.0f%%" % ((1 - ratio) * 100)
    return "NOT met: %.0f%% slower than BALANCED" % ((ratio - 1) * 100)


def learning_row(by, runs, wid, fixed):
    lr, bl = by.get((wid, "hakmem-LEARNING")), by.get((wid, "hakmem-BALANCED"))
    best = best_group(by, runs, wid, [a for a in fixed if ok(by.get((wid, a)))])
    row = {"workload": wid, "learning_ns": lr["ns_per_op_median"] if ok(lr) else None,
           "best_fixed": best[1] if best else None, "best_fixed_ns": best[2] if best else None,
           "best_alike": best[0] if best else [],
           "balanced_ns": bl["ns_per_op_median"] if ok(bl) else None,
           "fixed_ns": {a: (by[(wid, a)]["ns_per_op_median"] if ok(by.get((wid, a))) else None) for a in fixed},
           "ratio_to_best": None, "ratio_to_balanced": None, "cpu_ratio_to_best": None, "median_ratio_to_best": None,
           "paired_reps": None, "verdict_best": "unavailable", "verdict_balanced": "unavailable"}
    if ok(lr) and best:
        members, _, ns, cpu_best, g_runs = best
        row["median_ratio_to_best"] = lr["ns_per_op_median"] / ns
        pr = statistics.paired_ratio([r for r in runs if r["allocator"] == "hakmem-LEARNING"] + g_runs, wid,
                                     "hakmem-LEARNING", "group")
        row["paired_reps"] = pr is not None
        row["ratio_to_best"] = pr if pr is not None else row["median_ratio_to_best"]
        row["verdict_best"] = verdict_best(row["ratio_to_best"], members)
        if cpu(lr) and cpu_best:
            row["cpu_ratio_to_best"] = cpu(lr) / cpu_best
    if ok(lr) and ok(bl):
        pb = statistics.paired_ratio(runs, wid, "hakmem-LEARNING", "hakmem-BALANCED")
        row["ratio_to_balanced"] = pb if pb is not None else lr["ns_per_op_median"] / bl["ns_per_op_median"]
        balanced_is_best = best is None or bl["ns_per_op_median"] <= best[2] * tables.LEARNING_GOAL
        row["verdict_balanced"] = verdict_balanced(row["ratio_to_balanced"], balanced_is_best)
    return row


def learning_summary(results, alloc_names, workload_ids, runs=()):
    """Per workload, hakmem-LEARNING against the best fixed strategy in
    hindsight (goal: ratio <= LEARNING_GOAL) and against hakmem-BALANCED.
    Fixed strategies that route the workload's requests alike count as one
    (alike_groups); the best is the group with the lowest median ns/op. The
    ratios are paired per repetition (statistics.paired_ratio) where the runs
    allow, else ratios of medians (both are kept). None when the run has no
    LEARNING or no fixed strategy."""
    fixed = [a for a in alloc_names if a in tables.FIXED_BY_NAME]
    if "hakmem-LEARNING" not in alloc_names or not fixed:
        return None
    by = {(r["workload"], r["allocator"]): r for r in results}
    rows = [learning_row(by, runs, wid, fixed) for wid in workload_ids]
    return {"goal": tables.LEARNING_GOAL, "fixed": fixed,
            "note": "fixed strategies: HAKMEM_EVO=frozen HAKMEM_EVO_INITIAL=<threshold>, every site pinned "
                    "(a run whose sites did not all freeze on it fails)",
            "rows": rows}
