"""learning.py — the //compare:learning verdicts, per workload:
- the default mode (hakmem-BALANCED, which learns) against its static twin
  (hakmem-BALANCED-static, learning off) and the best fixed strategy in
  hindsight, on time and peak RSS (default_row: the goals (a)-(d) of
  tables.DEFAULT_GOALS);
- hakmem-LEARNING (explores for ever) against the best fixed strategy and
  against BALANCED (learning_row).

Owns: which fixed strategies count as one (alike_groups: they route every
size the workload's sites asked for the same way, by the generated strategy
table), the best group, the paired ratios with their noise, and the verdict
lines; static against every group (static_vs_groups: where goal (b) could
apply). Pure functions over run and result dicts.

Called by: runner.py (the "learning" object of results.json), rerender.py,
the unit tests.
"""

from compare import statistics, strategies, tables


def fixed_threshold(alloc):
    """hakmem-T512K -> 524288: the large-block threshold a fixed strategy pins."""
    return tables.FIXED_BY_NAME[alloc].threshold


def fixed_row(alloc):
    """The strategy table's row a fixed-strategy allocator pins."""
    return strategies.by_name()[tables.FIXED_BY_NAME[alloc].strategy]


def alike_groups(runs, wid, fixed):
    """The fixed strategies of one workload, grouped by how they route its
    requests: two are alike when every log2 size bucket that any learning
    site of any hakmem run of the workload reported (sizes_seen) goes the
    same way under both thresholds, and their other policy columns are equal
    (strategies.route_key). Alike strategies run the same allocator code on the workload;
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
    buckets = sorted(set().union(*seen.values()))
    groups = {}
    for a in fixed:
        groups.setdefault(strategies.route_key(fixed_row(a), buckets), []).append(a)
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


# --- the default mode's goals -------------------------------------------------------

def paired_stats(pair_runs, wid, a, b, med_a, med_b, value=statistics.op_ns):
    """a / b on one workload: (the median of per-repetition ratios, or the
    ratio of the medians med_a / med_b with fewer than 2 repetitions; the
    95% interval of the per-repetition ratios' median or None; how many
    repetitions were paired)."""
    ratios = statistics.paired_ratios(pair_runs, wid, a, b, value)
    if len(ratios) >= 2:
        return statistics.median(ratios), statistics.median_interval(ratios), len(ratios)
    return (med_a / med_b if med_a is not None and med_b else None), None, len(ratios)


def fmt_stat(ratio, interval):
    if ratio is None:
        return "-"
    if not interval:
        return "%.3fx [no interval: < 2 paired reps]" % ratio
    return "%.3fx [%.3f-%.3f, %.0f%%]" % (ratio, interval[0], interval[1], 100 * interval[2])


def verdict_static(ratio, interval, goal):
    """(a): the default at most goal x the static default, within noise: the
    interval of the paired ratios' median reaches goal."""
    if ratio is None:
        return "unavailable"
    if ratio <= goal:
        return "met: %s of static" % fmt_stat(ratio, interval)
    if interval and interval[0] <= goal:
        return "met within noise: %s of static" % fmt_stat(ratio, interval)
    return "NOT met: %s of static" % fmt_stat(ratio, interval)


def beyond_noise_above(ratio, interval, bound=1.0):
    """True when a paired ratio lies beyond noise above bound: the interval
    of the per-repetition ratios' median lies wholly above it. False without
    an interval (fewer than 2 paired repetitions cannot tell)."""
    return ratio is not None and bool(interval) and interval[0] > bound


def best_gain_text(static_to_best, interval):
    """How much faster than static the best fixed group is: "16.7% [9.1-23.1%]"
    (1 - best/static, from the paired static/best ratios)."""
    pct = lambda x: 100 * (1 - 1 / x)  # noqa: E731
    if not interval:
        return "%.1f%%" % pct(static_to_best)
    return "%.1f%% [%.1f-%.1f%%]" % (pct(static_to_best), pct(interval[0]), pct(interval[1]))


def verdict_gain(ratio, interval, gain, static_to_best, static_best_interval):
    """(b): where the static default is beyond noise slower than the best
    fixed group (beyond_noise_above on the paired static/best ratios), the
    default at least gain faster than static. Elsewhere today's default is,
    within noise, the best fixed policy, and asking to beat it by gain would
    ask to beat every fixed strategy: n/a. Where it applies but the best fixed
    group itself gains less than that over static, the verdict says so (the
    goal is unchanged)."""
    if ratio is None or static_to_best is None:
        return "unavailable"
    sb = "static/best %s" % fmt_stat(static_to_best, static_best_interval)
    if not beyond_noise_above(static_to_best, static_best_interval):
        if not static_best_interval:
            return "n/a: the static default cannot be told beyond noise from the best fixed strategy (%s)" % sb
        return "n/a: the static default is, within noise, the best fixed strategy (%s)" % sb
    room = best_gain_text(static_to_best, static_best_interval)
    if 1 / static_to_best > 1 - gain:
        room = "%s; the %.0f%% goal is beyond the best fixed strategy's own gain over static: %s" % (sb, 100 * gain, room)
    else:
        room = "%s; the best fixed strategy gains %s over static" % (sb, room)
    if ratio <= 1 - gain:
        return "met: %s of static (goal <= %.2fx); %s" % (fmt_stat(ratio, interval), 1 - gain, room)
    return "NOT met: %s of static (goal <= %.2fx); %s" % (fmt_stat(ratio, interval), 1 - gain, room)


def verdict_ratio(ratio, interval, goal, what):
    if ratio is None:
        return "unavailable"
    return "%s: %s of %s (goal <= %.2fx)" % ("met" if ratio <= goal else "NOT met", fmt_stat(ratio, interval), what, goal)


def hindsight_missing(by, wid, fixed):
    """The fixed strategies the hindsight set of one workload lacks, as
    ["T256K_RET (not run)", "T256K_LAZY (timeout)", ...]: rows of the fixed set
    that were not run (a bounded run's --allocators), or whose cells did not
    end ok (a --timeout cap on a pathological row). The best fixed strategy
    is the best of the others, and the verdicts say so."""
    out = []
    for a in tables.FIXED_BY_NAME:
        r = by.get((wid, a))
        if a not in fixed:
            out.append("%s (not run)" % a[len("hakmem-"):])
        elif not ok(r):
            out.append("%s (%s)" % (a[len("hakmem-"):], r["status"] if r else "no result"))
    return out


def with_missing(verdict, missing):
    if not missing or verdict == "unavailable":
        return verdict
    return "%s; hindsight set without %s" % (verdict, ", ".join(missing))


def default_row(by, runs, wid, fixed):
    """The default mode's goals on one workload (tables.DEFAULT_GOALS):
    (a) default / static <= 1.00 within noise (the interval of the paired
    ratios reaches 1.00), (b) default / static <= 0.90 where static is beyond
    noise slower than the best fixed group (the interval of the paired
    static / best ratios lies above 1.00: verdict_gain), (c) default / best fixed
    <= 1.05, (d) default's peak RSS / best fixed's <= 1.10. Ratios are paired
    per repetition where two or more repetitions allow. The fixed rows not in
    the hindsight set (not run, or not ok: hindsight_missing) are named in
    the verdicts (b)-(d), which compare with the best of the others."""
    g = tables.DEFAULT_GOALS
    df, st = by.get((wid, tables.DEFAULT)), by.get((wid, tables.STATIC))
    best = best_group(by, runs, wid, [a for a in fixed if ok(by.get((wid, a)))])
    row = {"workload": wid, "default_ns": df["ns_per_op_median"] if ok(df) else None,
           "static_ns": st["ns_per_op_median"] if ok(st) else None,
           "best_fixed": best[1] if best else None, "best_alike": best[0] if best else [],
           "best_fixed_ns": best[2] if best else None, "static_row": tables.STATIC_ROW, "static_is_best": None,
           "ratio_to_static": None, "static_interval": None, "ratio_to_best": None, "best_interval": None,
           "rss_ratio_to_best": None, "static_to_best": None, "static_best_interval": None, "paired_reps": 0,
           "verdict_static": "unavailable", "verdict_gain": "unavailable", "verdict_best": "unavailable",
           "verdict_rss": "unavailable", "met": None}
    own = [r for r in runs if r["workload"] == wid and r["allocator"] == tables.DEFAULT]
    if best:
        members, _, ns, _, g_runs = best
        rss_best = statistics.median([by[(wid, a)].get("maxrss_kb_median") for a in members])
        if ok(st):
            sr, siv, _ = paired_stats([r for r in runs if r["allocator"] == tables.STATIC] + g_runs, wid,
                                      tables.STATIC, "group", st["ns_per_op_median"], ns)
            row.update(static_to_best=sr, static_best_interval=siv,
                       static_is_best=not beyond_noise_above(sr, siv))
        if ok(df):
            r, iv, n = paired_stats(own + g_runs, wid, tables.DEFAULT, "group", df["ns_per_op_median"], ns)
            row.update(ratio_to_best=r, best_interval=iv, paired_reps=n)
            row["verdict_best"] = verdict_ratio(r, iv, g["best_max"], alike_label(members))
            rr, riv, _ = paired_stats(own + g_runs, wid, tables.DEFAULT, "group", df.get("maxrss_kb_median"), rss_best,
                                      statistics.rss_kb)
            row["rss_ratio_to_best"] = rr
            row["verdict_rss"] = verdict_ratio(rr, riv, g["rss_max"], alike_label(members) + "'s peak RSS")
    if ok(df) and ok(st):
        r, iv, n = paired_stats(runs, wid, tables.DEFAULT, tables.STATIC, df["ns_per_op_median"], st["ns_per_op_median"])
        row.update(ratio_to_static=r, static_interval=iv)
        row["verdict_static"] = verdict_static(r, iv, g["static_max"])
        if row["static_is_best"] is not None:
            row["verdict_gain"] = verdict_gain(r, iv, g["gain_min"], row["static_to_best"], row["static_best_interval"])
    missing = hindsight_missing(by, wid, fixed)  # in the verdicts' text (results.schema.json has no field for it)
    for k in ("verdict_gain", "verdict_best", "verdict_rss"):
        row[k] = with_missing(row[k], missing)
    verdicts = [row[k] for k in ("verdict_static", "verdict_gain", "verdict_best", "verdict_rss")]
    if not any(v == "unavailable" for v in verdicts):
        row["met"] = not any(v.startswith("NOT") for v in verdicts)
    for k in ("static_interval", "best_interval", "static_best_interval"):
        row[k] = list(row[k]) if row[k] else None
    return row


def learning_summary(results, alloc_names, workload_ids, runs=()):
    """Per workload: the default mode's goals (default_row, when
    hakmem-BALANCED ran beside fixed strategies) and hakmem-LEARNING against
    the best fixed strategy in hindsight (goal: ratio <= LEARNING_GOAL) and
    against hakmem-BALANCED (learning_row, when LEARNING ran). Fixed
    strategies that route the workload's requests alike count as one
    (alike_groups); the best is the group with the lowest median ns/op. The
    ratios are paired per repetition (statistics.paired_ratio) where the runs
    allow, else ratios of medians (both are kept). None when the run has no
    fixed strategy, or neither LEARNING nor BALANCED."""
    fixed = [a for a in alloc_names if a in tables.FIXED_BY_NAME]
    has_learning, has_default = "hakmem-LEARNING" in alloc_names, tables.DEFAULT in alloc_names
    if not fixed or not (has_learning or has_default):
        return None
    by = {(r["workload"], r["allocator"]): r for r in results}
    rows = [learning_row(by, runs, wid, fixed) for wid in workload_ids] if has_learning else []
    out = {"goal": tables.LEARNING_GOAL, "fixed": fixed,
           "note": "fixed strategies: the rows of the strategy table's %s set, pinned by tables.fixed_env "
                   "(HAKMEM_EVO=frozen with HAKMEM_EVO_INITIAL=<threshold>, or HAKMEM_EVO_STRATEGY=<name> for a row "
                   "its threshold does not name); every site pinned (a run whose sites did not all freeze on it "
                   "fails)" % tables.FIXED_SET,
           "rows": rows}
    if has_default:
        out["default"] = {"allocator": tables.DEFAULT, "static": tables.STATIC, "goals": dict(tables.DEFAULT_GOALS),
                          "rows": [default_row(by, runs, wid, fixed) for wid in workload_ids]}
    return out


def cpu_ns(run):
    """A run's CPU time per op (the workload's cpu_ns_per_op; None where it
    reports none): on a loaded machine it carries less of the other
    processes' noise than the wall time."""
    return ((run.get("inside") or {}).get("extra") or {}).get("cpu_ns_per_op")


def static_vs_groups(doc, wid, value=statistics.op_ns):
    """The static default against every group of alike fixed strategies of
    one workload, paired per repetition (a group's value in a repetition is
    its members' median): [(members, median ratio static / group, its
    interval or None, pairs)], fastest group first. Which fixed strategies
    static is beyond noise slower than (beyond_noise_above), not only the
    best: where (b) could apply."""
    by = {(r["workload"], r["allocator"]): r for r in doc["results"]}
    fixed = [a for a in doc["config"]["allocators"] if a in tables.FIXED_BY_NAME and ok(by.get((wid, a)))]
    out = []
    for members in alike_groups(doc["runs"], wid, fixed):
        per = {}
        for r in doc["runs"]:
            if r["workload"] == wid and r["status"] == "ok" and r["allocator"] in members + [tables.STATIC]:
                v = value(r)
                if v is not None:
                    per.setdefault(r["rep"], {}).setdefault(r["allocator"] == tables.STATIC, []).append(v)
        ratios = [statistics.median(v[True]) / statistics.median(v[False]) for _, v in sorted(per.items())
                  if v.get(True) and v.get(False)]
        if ratios:
            out.append((members, statistics.median(ratios), statistics.median_interval(ratios), len(ratios)))
    return sorted(out, key=lambda g: -g[1])


def doc_summary(doc):
    """learning_summary of a results document (its results, allocators,
    workloads and runs): what runner.py stores as "learning", and what
    rerender.py recomputes from an older results.json."""
    return learning_summary(doc["results"], doc["config"]["allocators"], [w["id"] for w in doc["workloads"]],
                            doc["runs"])
