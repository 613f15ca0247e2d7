"""report.py — the plain-text report (Markdown tables, ready to paste) printed
at the end of a run and saved as report.txt, and the history.jsonl line.

Reads only a results document (schema results.schema.json); pure string
building. Called by: runner.py, the unit tests (report_test.py).
"""

from compare import learning, statistics, tables


def fmt_num(x, digits=3):
    if x is None:
        return "-"
    if x >= 100:
        return "{:,.0f}".format(x)
    return "{:.{}g}".format(x, digits)


def fmt_ratio(x, digits=2):
    return "-" if x is None else "%.*fx" % (digits, x)


def fail_cell(r):
    kinds = sorted(set(f["status"] for f in r["failures"])) or ["failed"]
    return "FAIL(%s %d/%d)" % ("+".join(kinds), r["n_failed"], r["n_ok"] + r["n_failed"])


def cell(r, ref, value="ns_per_op_median"):
    """One table cell: the median, its ratio to the reference, bold when best."""
    if r is None:
        return "-"
    if r["status"] != "ok":
        return fail_cell(r)
    s = fmt_num(r[value])
    ratio = r.get("ratio_to_reference")
    if ratio is not None and r["allocator"] != ref:
        s += " (%.2fx)" % ratio
    if r["best"]:
        s = "**" + s + "**"
    return s


def md_table(header, rows):
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]

    def line(vals):
        return "| " + " | ".join(str(v).ljust(w) for v, w in zip(vals, widths)) + " |"
    sep = "|" + "|".join("-" * (w + 1) + ":" if i else "-" * (w + 2) for i, w in enumerate(widths)) + "|"
    return "\n".join([line(header), sep] + [line(r) for r in rows])


def doc_reference(doc):
    allocs = [a for a in doc["config"]["allocators"]]
    return doc["config"].get("reference") or next((a for a in tables.REFERENCE_ORDER if a in allocs), "glibc")


def balanced_vs_minimal(by, wid):
    mn, bl = by.get((wid, "hakmem-MINIMAL")), by.get((wid, "hakmem-BALANCED"))
    if mn and bl and mn["status"] == "ok" and bl["status"] == "ok" and bl["ns_per_op_median"]:
        return "%.2fx" % (mn["ns_per_op_median"] / bl["ns_per_op_median"])
    return "-"


def header_lines(doc):
    m = doc["machine"]
    return ["hakmem comparison: %s, scale %g, %d reps, commit %s%s, %s, %s x%d" % (
        doc["config"]["target"], doc["config"]["scale"], doc["config"]["reps"], doc["git"]["short"],
        " (dirty)" if doc["git"]["dirty"] else "", doc["date"], m["cpu_model"], m["cpus"]), ""]


def main_table(doc, by, ids, allocs, ref):
    has_modes = "hakmem-MINIMAL" in allocs and "hakmem-BALANCED" in allocs
    out = ["Median ns per operation (lower is better); (x) = ratio to %s; **bold** = best in row." % ref]
    header = ["workload"] + allocs + (["BALANCED vs MINIMAL"] if has_modes else [])
    rows = []
    for wid in ids:
        row = [wid] + [cell(by.get((wid, a)), ref) for a in allocs]
        if has_modes:
            row.append(balanced_vs_minimal(by, wid))
        rows.append(row)
    gm = doc.get("geomean")
    if gm and gm["workloads"]:
        row = ["geomean (general)"] + ["-" if gm["ratio"].get(a) is None else "%.3fx" % gm["ratio"][a] for a in allocs]
        rows.append(row + ([""] if has_modes else []))
    out.append(md_table(header, rows))
    if gm and gm["workloads"]:
        out.append("geomean (general): geometric mean of the ns/op ratio to %s over %s ('-': a cell failed)." % (
            gm["reference"], ", ".join(gm["workloads"])))
    return out


def vm_lines(doc, by, allocs, ref):
    out = ["", "VM scenario (malloc 2 MiB, write 1 byte per 4 KiB page, free), per allocator:"]
    vrows = []
    for a in allocs:
        r = by[("vm", a)]
        if r["status"] != "ok":
            vrows.append([a, cell(r, ref), "-", "-", "-"])
            continue
        vrows.append([a, fmt_num(r["extra"].get("iter_median_ns")), fmt_num(r["extra"].get("iter_p95_ns")),
                      fmt_num(r["minflt_median"]), "%.1f" % (r["maxrss_kb_median"] / 1024)])
    out.append(md_table(["allocator", "median ns/iter", "p95 ns/iter", "minor faults", "peak RSS MiB"], vrows))
    h = doc["headline"]
    if h["vm_speedup_balanced_vs_minimal"] is not None:
        sp = h["vm_speedup_balanced_vs_minimal"]
        out.append("VM speedup hakmem BALANCED vs MINIMAL: %.2fx (target >= %.2fx: %s)" % (
            sp, h["vm_target_speedup"], "met" if sp >= h["vm_target_speedup"] else "NOT met"))
    elif "hakmem-MINIMAL" in allocs and "hakmem-BALANCED" in allocs:
        out.append("VM speedup hakmem BALANCED vs MINIMAL: unavailable (a hakmem run failed, see above)")
    return out


def rss_cell(r):
    if r is None or r["status"] != "ok":
        return "-"
    return "%.1f / %s" % (r["maxrss_kb_median"] / 1024, fmt_num(r["minflt_median"]))


def rss_lines(by, ids, allocs):
    rows = [[wid] + [rss_cell(by.get((wid, a))) for a in allocs] for wid in ids]
    return ["", "Peak RSS in MiB (median of runs) / minor page faults:", md_table(["workload"] + allocs, rows)]


def extra_cell_lines(doc, by):
    """Workloads that also ran under an extra allocator (e.g. BALANCED without
    wrapper detection): the pair side by side."""
    out = []
    for pr in doc.get("pairs") or []:
        b, e = by.get((pr["workload"], pr["base"])), by.get((pr["workload"], pr["allocator"]))
        if not (b and e):
            continue
        out += ["", "%s: %s against %s (%s):" % (pr["workload"], pr["base"], pr["allocator"], env_text(doc, pr["allocator"])),
                md_table(["allocator", "ns/op", "peak RSS MiB / minor faults"],
                         [[pr["base"], cell(b, None), rss_cell(b)], [pr["allocator"], cell(e, None), rss_cell(e)],
                          ["%s / %s" % (pr["allocator"], pr["base"]), "%s (paired: %s)" % (
                              fmt_ratio(pr["ratio"]), fmt_ratio(pr["paired_ratio"])), ""]])]
    return out


def env_text(doc, name):
    a = next((x for x in doc["allocators"] if x["name"] == name), None)
    return " ".join("%s=%s" % kv for kv in sorted(a["env"].items())) if a else ""


def command_lines(doc, ref):
    res = doc.get("command_results") or []
    if not res:
        return []
    allocs = doc["config"]["allocators"]
    by = {(r["command"], r["allocator"]): r for r in res}
    out = ["", "Your commands (--cmd): median wall ms (x ratio to %s) / peak RSS MiB / minor faults:" % ref]
    rows = []
    for c in doc["commands"]:
        row = [c["name"]]
        for a in allocs:
            r = by.get((c["name"], a))
            if r is None:
                row.append("-")
            elif r["status"] != "ok":
                row.append(fail_cell(r))
            else:
                ratio = r["ratio_to_reference"]
                row.append("%s%s / %.1f / %s" % (fmt_num(r["wall_ms_median"]),
                                                  " (%.2fx)" % ratio if ratio is not None and a != ref else "",
                                                  (r["maxrss_kb_median"] or 0) / 1024, fmt_num(r["minflt_median"])))
        rows.append(row)
    out.append(md_table(["command"] + allocs, rows))
    return out


def learning_lines(ls):
    out = ["", "LEARNING vs fixed strategies (median ns/op; goal: LEARNING <= %.2fx the best fixed strategy in hindsight, "
           "and faster than BALANCED where BALANCED is not the best; A=B: fixed strategies that route the workload's "
           "requests alike, counted as one; ratios are medians of per-repetition ratios, 'of medians' is the "
           "ratio of the medians):" % ls["goal"]]
    rows = []
    for r in ls["rows"]:
        best = learning.alike_label(r["best_alike"])[len("hakmem-"):] if r.get("best_alike") else (r["best_fixed"] or "-").replace(
            "hakmem-", "")
        rows.append([r["workload"], fmt_num(r["learning_ns"]), "%s %s" % (fmt_num(r["best_fixed_ns"]), best),
                     fmt_ratio(r["ratio_to_best"], 3), fmt_ratio(r["median_ratio_to_best"], 3),
                     fmt_ratio(r["cpu_ratio_to_best"], 3), fmt_num(r["balanced_ns"]), fmt_ratio(r["ratio_to_balanced"], 3)])
    out.append(md_table(["workload", "LEARNING", "best fixed", "LEARNING/best", "(of medians)", "(CPU time)", "BALANCED",
                         "LEARNING/BALANCED"], rows))
    for r in ls["rows"]:
        out.append("  %-10s vs best fixed: %s; vs BALANCED: %s" % (r["workload"], r["verdict_best"], r["verdict_balanced"]))
    out.append("  (%s)" % ls["note"])
    return out


def default_lines(d):
    """The default mode's goals per workload (learning.default_row)."""
    g = d["goals"]
    out = ["", "%s (default, learns) vs %s (learning off) and the best fixed strategy in hindsight; goals per workload: "
           "(a) <= %.2fx static within noise, (b) <= %.2fx static where today's default is not the best fixed policy: "
           "static is beyond noise slower than the best fixed strategy (the interval of static/best lies above "
           "1.00; elsewhere n/a), (c) <= %.2fx the best fixed, (d) peak RSS <= %.2fx the best fixed's. Ratios: "
           "medians of per-repetition ratios [interval of that median, its coverage: 95%%, or less with few "
           "repetitions]:" % (d["allocator"], d["static"], g["static_max"], 1 - g["gain_min"], g["best_max"],
                              g["rss_max"])]
    rows = []
    for r in d["rows"]:
        best = learning.alike_label(r["best_alike"])[len("hakmem-"):] if r["best_alike"] else "-"
        rows.append([r["workload"], fmt_num(r["default_ns"]), fmt_num(r["static_ns"]),
                     "%s %s" % (fmt_num(r["best_fixed_ns"]), best), fmt_ratio(r.get("static_to_best"), 3),
                     fmt_ratio(r["ratio_to_static"], 3), fmt_ratio(r["ratio_to_best"], 3),
                     fmt_ratio(r["rss_ratio_to_best"], 3), {True: "PASS", False: "FAIL", None: "-"}[r["met"]]])
    out.append(md_table(["workload", "default", "static", "best fixed", "static/best", "default/static",
                         "default/best", "RSS default/best", "goals"], rows))
    for r in d["rows"]:
        out.append("  %-10s (a) %s; (b) %s; (c) %s; (d) %s" % (r["workload"], r["verdict_static"], r["verdict_gain"],
                                                          r["verdict_best"], r["verdict_rss"]))
    return out


def bigswap_lines(doc, by):
    """bigswap: the default mode's time and peak RSS against glibc's and
    tcmalloc's (goal tables.BIGSWAP_GOAL), paired per repetition where the
    runs allow."""
    wid, goal = "bigswap", tables.BIGSWAP_GOAL
    d = by.get((wid, tables.DEFAULT))
    if not d or d["status"] != "ok":
        return []
    out = []
    for peer in goal["peers"]:
        p = by.get((wid, peer))
        if not p or p["status"] != "ok":
            continue
        t = statistics.paired_ratio(doc["runs"], wid, tables.DEFAULT, peer)
        t = t if t is not None else d["ns_per_op_median"] / p["ns_per_op_median"]
        m = statistics.paired_ratio(doc["runs"], wid, tables.DEFAULT, peer, statistics.rss_kb)
        m = m if m is not None else d["maxrss_kb_median"] / p["maxrss_kb_median"]
        met = t <= goal["time_max"] and m <= goal["rss_max"]
        out.append("bigswap: %s / %s: time %.3fx, peak RSS %.3fx (goal <= %.2fx time at <= %.2fx RSS): %s" % (
            tables.DEFAULT, peer, t, m, goal["time_max"], goal["rss_max"], "met" if met else "NOT met"))
    return [""] + out if out else []


def failure_lines(doc):
    fl = [(r["workload"], r["allocator"], f) for r in doc["results"] for f in r["failures"]]
    fl += [(r["command"], r["allocator"], f) for r in doc.get("command_results") or [] for f in r["failures"]]
    if not fl:
        return []
    out = ["", "FAILURES (%d runs):" % len(fl)]
    for wid, a, f in fl:
        out.append("  %s / %s rep %d: %s %s" % (wid, a, f["rep"], f["status"], f["message"].splitlines()[0] if f["message"] else ""))
    return out


def text_report(doc):
    allocs = doc["config"]["allocators"]
    ids = [w["id"] for w in doc["workloads"]]
    by = {(r["workload"], r["allocator"]): r for r in doc["results"]}
    ref = doc_reference(doc)
    out = header_lines(doc)
    if ids:
        out += main_table(doc, by, ids, allocs, ref)
        if "vm" in ids:
            out += vm_lines(doc, by, allocs, ref)
        out += rss_lines(by, ids, allocs)
        out += extra_cell_lines(doc, by)
    out += command_lines(doc, ref)
    if not doc["machine"]["perf_instructions"]:
        out.append("Instructions: unavailable (perf stat cannot count instructions on this machine).")
    out += bigswap_lines(doc, by)
    if doc.get("learning") and doc["learning"].get("default"):
        out += default_lines(doc["learning"]["default"])
    if doc.get("learning") and doc["learning"]["rows"]:
        out += learning_lines(doc["learning"])
    out += failure_lines(doc)
    return "\n".join(out) + "\n"


def history_line(doc):
    return {
        "schema": tables.SCHEMA_VERSION,
        "run_id": doc["run_id"],
        "date": doc["date"],
        "commit": doc["git"]["commit"],
        "dirty": doc["git"]["dirty"],
        "machine": {"hostname": doc["machine"]["hostname"], "cpu_model": doc["machine"]["cpu_model"], "cpus": doc["machine"]["cpus"]},
        "target": doc["config"]["target"],
        "scale": doc["config"]["scale"],
        "reps": doc["config"]["reps"],
        "results": [{"workload": r["workload"], "allocator": r["allocator"], "status": r["status"],
                     "ns_per_op_median": r["ns_per_op_median"], "maxrss_kb_median": r["maxrss_kb_median"]}
                    for r in doc["results"]],
        "headline": doc["headline"],
    }
