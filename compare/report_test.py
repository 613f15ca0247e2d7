"""report_test.py — the text report (report.py) and the HTML report
(dashboard/render.py) on a made-up results document: table formatting,
failed cells, the geometric-mean row, --cmd commands, the wrapper pair, and
site names (shown when the results carry them, else the address; older
files without the newer fields still render).

No allocator is replaced; render() runs gnuplot on tiny data. Every config
(asan, tsan too) runs it. Called by: //compare:report_test.
"""

import copy
import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from compare import learning, report, rerender, schema_check, statistics, strategies, tables  # noqa: E402
from dashboard import render  # noqa: E402

ALLOCS = ["glibc", "mimalloc", "hakmem-MINIMAL", "hakmem-BALANCED"]


def mk_run(wid, alloc, rep, ns, status="ok", learn=None):
    return {"workload": wid, "allocator": alloc, "rep": rep, "order": 0, "status": status,
            "exit_code": 0 if status == "ok" else 1, "signal": None, "wall_ns": int(ns * 1000) + 1000000,
            "minflt": 100, "majflt": 0, "maxrss_kb": 2048, "ru_maxrss_kb": 20000, "instructions": None,
            "inside": {"workload": wid, "scale": 1, "threads": 1, "seed": 42, "ops": 1000, "elapsed_ns": int(ns * 1000),
                       "ns_per_op": ns, "checksum": "0" * 16, "peak_rss_kb": 2048, "malloc_from": "/lib/libc.so.6",
                       "extra": {}},
            "message": "" if status == "ok" else "exit 1: it broke", "learn": learn}


def site(addr, learn_state="FROZEN", **kw):
    s = {"site": addr, "allocs": 10,
         "learn": {"state": learn_state, "strategy": "512k", "window": 3, "sizes_seen": [18],
                   "ratings": [{"name": "512k", "n": 3, "mean": 100.0, "rating": 0, "alive": True}],
                   "history": [{"window": 1, "from": "LEARN", "to": "FROZEN", "reason": "settled", "strategy": "512k"}]}}
    s.update(kw)
    return s


def make_doc(with_commands=True):
    """A results document as runner.build_doc would write it."""
    learn = {"mode": "LEARNING", "sites": [site("0x1000", name="parse_block+0x3c (libfoo.so)", frames=["0x1000", "0x2000"]),
                                           site("0x3000", name="0x3000")]}
    runs = []
    for rep in range(2):
        for a, ns in zip(ALLOCS, (100, 50, 400, 60)):
            runs.append(mk_run("small", a, rep, ns))
            runs.append(mk_run("json", a, rep, ns * 10, status="error" if a == "hakmem-MINIMAL" and rep == 1 else "ok"))
        runs.append(mk_run("wrapper", "hakmem-BALANCED", rep, 1000))
        runs.append(mk_run("wrapper", tables.NOWRAP, rep, 1500))
        for a in ALLOCS[:3]:
            runs.append(mk_run("wrapper", a, rep, 900))
        runs.append(mk_run("two-sites", "hakmem-LEARNING", rep, 300, learn=learn))
    cells = [(w, a) for w in ("small", "json") for a in ALLOCS] + [("wrapper", a) for a in ALLOCS + [tables.NOWRAP]]
    results = statistics.aggregate(cells, runs, "mimalloc")
    workloads = [{"id": w, "workload": w, "threads": 1, "description": "desc " + w, "op": "one op", "args": [], "reps": 2,
                  "kind": tables.WORKLOAD_BY_NAME[w].kind, "launches": 1,
                  "extra_allocators": [tables.NOWRAP] if w == "wrapper" else []} for w in ("small", "json", "wrapper")]
    doc = {
        "schema": tables.SCHEMA_VERSION, "run_id": "20260101T000000Z", "date": "2026-01-01T00:00:00Z",
        "git": {"commit": "abc", "short": "abc", "branch": "b", "dirty": False, "subject": "s"},
        "machine": {"hostname": "h", "cpu_model": "cpu", "cpus": 2, "mem_total_kb": 1 << 20, "kernel": "6", "arch": "x",
                    "glibc": "2.36", "python": "3", "perf_instructions": False},
        "config": {"target": "vs_mimalloc", "scale": 1, "reps": 2, "seed": 42, "timeout_s": 10,
                   "workloads": [w["id"] for w in workloads], "allocators": ALLOCS, "reference": "mimalloc", "argv": []},
        "allocators": [{"name": a, "preload": None if a == "glibc" else "/x/lib%s.so" % a, "env": {}, "version": None}
                       for a in ALLOCS] + [{"name": tables.NOWRAP, "preload": "/x/libhakmem.so",
                                            "env": {"HAKMEM_MODE": "BALANCED", "HAKMEM_SITE_WRAPPERS": "0"}, "version": None}],
        "workloads": workloads, "runs": [r for r in runs if r["workload"] != "two-sites"], "results": results,
        "geomean": statistics.geomean(results, [(w["id"], w["kind"]) for w in workloads], ALLOCS, "mimalloc"),
        "pairs": statistics.pairs(results, runs, [("wrapper", tables.NOWRAP, "hakmem-BALANCED")]),
        "headline": statistics.headline(results),
    }
    doc["runs"] += [r for r in runs if r["workload"] == "two-sites"]
    doc["workloads"].append({"id": "two-sites", "workload": "two-sites", "threads": 1, "description": "d", "op": "o",
                             "args": [], "reps": 2, "kind": "learning", "launches": 1, "extra_allocators": []})
    doc["results"] += statistics.aggregate([("two-sites", a) for a in ALLOCS], doc["runs"], "mimalloc")
    if with_commands:
        cmd_runs = []
        for rep in range(2):
            for a in ALLOCS:
                r = mk_run("echo", a, rep, 10)
                r["inside"] = None
                cmd_runs.append(r)
                f = mk_run("fails", a, rep, 10, status="ok" if a == "glibc" else "error")
                f["inside"] = None
                f["message"] = "exit status 3: no such file" if f["status"] != "ok" else ""
                cmd_runs.append(f)
        for r in cmd_runs:
            del r["learn"]
        doc["commands"] = [{"name": "echo", "command": "echo hi", "reps": 2}, {"name": "fails", "command": "false", "reps": 2}]
        doc["command_runs"] = cmd_runs
        doc["command_results"] = statistics.aggregate_commands([(c, a) for c in ("echo", "fails") for a in ALLOCS],
                                                               cmd_runs, "mimalloc")
    return doc


class TextReportTest(unittest.TestCase):
    def test_doc_is_schema_valid(self):
        self.assertEqual(schema_check.validate_file(make_doc(), schema_check.default_schema_path()), [])

    def test_formatting(self):
        self.assertEqual(report.fmt_num(None), "-")
        self.assertEqual(report.fmt_num(12345.6), "12,346")
        self.assertEqual(report.fmt_num(1.23456), "1.23")
        self.assertEqual(report.md_table(["a", "bb"], [["xxx", "1"]]).splitlines(),
                         ["| a   | bb |", "|-----|---:|", "| xxx | 1  |"])

    def test_tables(self):
        text = report.text_report(make_doc())
        self.assertRegex(text, r"\| small +\| 100 \(2\.00x\) +\| \*\*50\*\* +\| 400 \(8\.00x\) +\| 60 \(1\.20x\) +\| 6\.67x +\|")
        self.assertRegex(text, r"\| json +\|.*\| FAIL\(error 1/2\) +\|")
        # geomean over the general workloads only (small): json is a scenario
        self.assertRegex(text, r"\| geomean \(general\) +\| 2\.000x +\| 1\.000x +\| 8\.000x +\| 1\.200x +\|")
        self.assertIn("over small (", text)
        self.assertIn("wrapper: hakmem-BALANCED against hakmem-BALANCED-nowrap (HAKMEM_MODE=BALANCED HAKMEM_SITE_WRAPPERS=0)", text)
        self.assertRegex(text, r"\| hakmem-BALANCED-nowrap / hakmem-BALANCED +\| 1\.50x \(paired: 1\.50x\)")
        self.assertRegex(text, r"\| echo +\| [0-9.]+ \([0-9.]+x\) / 2\.0 / 100 ")
        self.assertRegex(text, r"\| fails +\| [0-9.]+ .*\| FAIL\(error 2/2\) ")
        self.assertIn("fails / mimalloc rep 0: error exit status 3: no such file", text)

    def test_history_line(self):
        h = report.history_line(make_doc())
        self.assertEqual(h["run_id"], "20260101T000000Z")
        self.assertEqual(len(h["results"]), len(make_doc()["results"]))

    def test_rerender_recomputes_the_learning_verdicts_from_the_runs(self):
        # small also under a fixed strategy and the static default: static
        # 1.75x the best fixed in both repetitions, the default 0.857x static
        doc = make_doc(with_commands=False)
        extra = [(a, ns) for a, ns in (("hakmem-T64K", 40), (tables.STATIC, 70))]
        for rep in range(2):
            doc["runs"] += [mk_run("small", a, rep, ns) for a, ns in extra]
        doc["config"]["allocators"] = ALLOCS + [a for a, _ in extra]
        doc["allocators"] += [{"name": a, "preload": "/x/libhakmem.so", "env": {}, "version": None} for a, _ in extra]
        doc["results"] += statistics.aggregate([("small", a) for a, _ in extra], doc["runs"], "mimalloc")
        doc["learning"] = {"stale": True}  # as an older verdict rule wrote it
        before = copy.deepcopy(doc)
        new, text = rerender.rerender(doc, recompute=True)
        self.assertEqual(doc, before)  # the input is left unchanged
        self.assertEqual(new["learning"], learning.doc_summary(doc))
        self.assertEqual(schema_check.validate_file(new, schema_check.default_schema_path()), [])
        self.assertRegex(text, r"small +\(a\) met: 0\.857x \[.*\] of static; \(b\) met: 0\.857x .*static/best 1\.750x")
        self.assertEqual(rerender.rerender(new, recompute=False)[1], text)  # as saved
        lines = rerender.static_vs_fixed_lines(new)
        self.assertIn("  small      time     T64K 1.750x [1.750-1.750, 50%]; beyond noise slower than: T64K", lines)
        self.assertFalse(any("CPU time" in x for x in lines))  # the runs report no CPU time


class RenderTest(unittest.TestCase):
    def render(self, doc):
        out = tempfile.mkdtemp(prefix="render-", dir=os.environ.get("TEST_TMPDIR"))
        path = os.path.join(out, "results.json")
        with open(path, "w") as f:
            json.dump(doc, f)
        with open(render.render(path, None, os.path.join(out, "report"))) as f:
            return f.read()

    def test_site_label(self):
        self.assertEqual(render.site_label({"site": "0x10", "name": "f+0x3 (libx.so)"}), "f+0x3 (libx.so)")
        self.assertEqual(render.site_label({"site": "0x10"}), "0x10")
        self.assertEqual(render.site_label({"site": "0x10", "name": ""}), "0x10")

    def test_page(self):
        page = self.render(make_doc())
        self.assertNotIn("Chart errors", page)
        self.assertIn("geomean (general)", page)
        self.assertIn("Site wrappers", page)
        self.assertRegex(page, r"<td>1\.50&times;</td><td>1\.50&times;</td>")
        self.assertIn('id="commands"', page)
        self.assertIn("<code>echo hi</code>", page)
        self.assertIn("FAILED (error)", page)
        self.assertIn("exit status 3: no such file", page)
        # site names from the stats, the frames beside the address, the bare address as the fallback
        self.assertIn("<b>parse_block+0x3c (libfoo.so)</b> <code>0x1000 &larr; 0x2000</code>", page)
        self.assertIn("<b>0x3000</b> <code>0x3000</code>", page)

    def balanced_learns(self, doc):
        """The doc with the default mode learning on two-sites (its sites in its runs) and the strategy table."""
        doc = copy.deepcopy(doc)
        for r in [r for r in doc["runs"] if r["workload"] == "two-sites" and r["allocator"] == "hakmem-LEARNING"]:
            b = copy.deepcopy(r)
            b["allocator"] = "hakmem-BALANCED"
            b["learn"]["sites"][0]["learn"]["history"].append(
                {"window": 2, "from": "FROZEN", "to": "CANARY", "reason": "drift", "strategy": "64k"})
            b["learn"]["sites"][0]["learn"].update(state="CANARY", strategy="64k")
            doc["runs"].append(b)
        doc["strategies"] = strategies.load()
        return doc

    def test_timeline_shows_the_free_policy(self):
        doc = self.balanced_learns(make_doc(with_commands=False))
        self.assertEqual(schema_check.validate_file(doc, schema_check.default_schema_path()), [])
        out = tempfile.mkdtemp(prefix="render-", dir=os.environ.get("TEST_TMPDIR"))
        path = os.path.join(out, "results.json")
        with open(path, "w") as f:
            json.dump(doc, f)
        with open(render.render(path, None, os.path.join(out, "report"))) as f:
            page = f.read()
        self.assertNotIn("Chart errors", page)
        charts = os.path.join(out, "report", "charts")
        for name in ("timeline-two-sites", "timeline-two-sites-balanced"):  # LEARNING's and the default's
            self.assertTrue(os.path.getsize(os.path.join(charts, name + ".png")) > 0, name)
        with open(os.path.join(charts, "src", "timeline-two-sites-balanced.gp")) as f:
            gp = f.read()
        by = strategies.by_name()
        for name in ("512k", "64k"):  # each strategy of the history, labelled with its policy columns
            self.assertIn('"%s: %s"' % (name, strategies.describe(by[name])), gp)
        self.assertIn("now CANARY on 64k, %s" % strategies.describe(by["64k"]), gp)  # the state now, in capitals
        self.assertIn("<h3>two-sites under hakmem-BALANCED", page)
        self.assertIn('<td class="name">%s</td>' % render.esc(strategies.describe(by["512k"])), page)

    def test_strategy_order(self):
        rows = strategies.by_name()
        names = ["2m", "odd-name", "64k", "512k"]
        self.assertEqual(sorted(names, key=lambda n: render.strategy_order(rows, n)), ["64k", "512k", "2m", "odd-name"])
        self.assertEqual(sorted(["1m", "x", "64k"], key=lambda n: render.strategy_order({}, n)), ["64k", "1m", "x"])

    def test_timeline_without_the_table(self):
        doc = make_doc(with_commands=False)
        sites = [r for r in doc["runs"] if r.get("learn")][0]["learn"]["sites"]
        charts = render.Charts(tempfile.mkdtemp(prefix="charts-", dir=os.environ.get("TEST_TMPDIR")))
        self.assertIsNotNone(render.timeline_chart(charts, "w", sites, {}))  # strategies by name only
        self.assertEqual(charts.errors, [])
        self.assertEqual(render.policy_label({}, "512k"), "")

    def test_older_files_render(self):
        doc = make_doc(with_commands=False)
        for key in ("geomean", "pairs"):
            del doc[key]
        del doc["config"]["reference"]
        for w in doc["workloads"]:
            for k in ("kind", "launches", "extra_allocators"):
                del w[k]
        for r in doc["runs"]:
            for st in (r.get("learn") or {}).get("sites", []):
                st.pop("name", None)
                st.pop("frames", None)
        doc["results"] = [r for r in doc["results"] if r["allocator"] != tables.NOWRAP]
        for r in doc["results"]:
            del r["ratio_to_reference"]
        doc["allocators"] = doc["allocators"][:-1]
        page = self.render(copy.deepcopy(doc))
        self.assertNotIn("Chart errors", page)
        self.assertIn("<b>0x1000</b> <code>0x1000</code>", page)
        self.assertNotIn('id="commands"', page)
        self.assertIn("2.00&times; mimalloc", page)  # the ratio from ratio_to_mimalloc


if __name__ == "__main__":
    unittest.main()
