"""statistics_test.py — the pure parts of the comparison runner on made-up
runs: statistics.py (medians, the checksum vote, aggregation without changing
its input, ratios, the geometric mean, paired ratios), learning.py (alike
strategies, the verdict) and tables.py (plan ids, allocators, targets).

No process is started and no allocator is replaced, so every config (asan,
tsan too) runs it. Called by: //compare:statistics_test.
"""

import copy
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from compare import learning, statistics, strategies, tables  # noqa: E402


def run(wid, alloc, rep, ns, status="ok", checksum="0" * 16, **kw):
    r = {"workload": wid, "allocator": alloc, "rep": rep, "status": status, "message": "" if status == "ok" else "boom",
         "wall_ns": int(ns * 1000), "minflt": 10, "majflt": 0, "maxrss_kb": 1024, "instructions": None,
         "inside": {"ns_per_op": ns, "ops": 1000, "checksum": checksum, "extra": {"x": ns / 10}}}
    r.update(kw)
    return r


class MedianTest(unittest.TestCase):
    def test_median_and_p95(self):
        self.assertEqual(statistics.median([3, 1, 2]), 2)
        self.assertEqual(statistics.median([4, 1, 2, 3]), 2.5)
        self.assertEqual(statistics.median([None, 5]), 5)
        self.assertIsNone(statistics.median([]))
        self.assertEqual(statistics.p95([1, 2, 3, 4, 5]), 5)  # nearest rank: with 5 values the largest
        self.assertEqual(statistics.p95(list(range(1, 101))), 95)
        self.assertIsNone(statistics.p95([None]))


class AggregateTest(unittest.TestCase):
    def runs(self):
        return [run("w", "glibc", 0, 100), run("w", "mimalloc", 0, 50), run("w", "hakmem", 0, 40),
                run("w", "glibc", 1, 120), run("w", "mimalloc", 1, 60), run("w", "hakmem", 1, 80, status="crash"),
                run("v", "glibc", 0, 10), run("v", "mimalloc", 0, 10, checksum="1" * 16), run("v", "hakmem", 0, 20)]

    def test_vote_marks_the_odd_checksum_and_copies(self):
        runs = self.runs()
        before = copy.deepcopy(runs)
        voted = statistics.vote_checksums(runs)
        self.assertEqual(runs, before)  # input unchanged
        odd = [r for r in voted if r["status"] == "checksum_mismatch"]
        self.assertEqual([(r["workload"], r["allocator"]) for r in odd], [("v", "mimalloc")])

    def test_aggregate_does_not_change_its_input(self):
        runs = statistics.vote_checksums(self.runs())
        before = copy.deepcopy(runs)
        statistics.aggregate([("w", a) for a in ("glibc", "mimalloc", "hakmem")], runs, "mimalloc")
        self.assertEqual(runs, before)

    def test_cells_ratios_best_and_failures(self):
        runs = statistics.vote_checksums(self.runs())
        res = statistics.aggregate([(w, a) for w in ("w", "v") for a in ("glibc", "mimalloc", "hakmem")], runs, "mimalloc")
        by = {(r["workload"], r["allocator"]): r for r in res}
        self.assertEqual([(r["workload"], r["allocator"]) for r in res][:3], [("w", "glibc"), ("w", "mimalloc"), ("w", "hakmem")])
        g, m, h = by[("w", "glibc")], by[("w", "mimalloc")], by[("w", "hakmem")]
        self.assertEqual(g["ns_per_op_median"], 110)
        self.assertEqual(g["ratio_to_reference"], 2.0)
        self.assertEqual(g["ratio_to_mimalloc"], 2.0)
        self.assertEqual(m["ratio_to_glibc"], 0.5)
        self.assertEqual(g["extra"], {"x": 11})
        # one crash: the cell fails, keeps the failure, and is never best
        self.assertEqual((h["status"], h["n_ok"], h["n_failed"]), ("failed", 1, 1))
        self.assertEqual(h["failures"], [{"rep": 1, "status": "crash", "message": "boom"}])
        self.assertFalse(h["best"])
        self.assertTrue(m["best"])
        # a failed reference: no ratios to it
        self.assertEqual(by[("v", "mimalloc")]["status"], "failed")
        self.assertIsNone(by[("v", "glibc")]["ratio_to_reference"])
        self.assertEqual(by[("v", "hakmem")]["ratio_to_glibc"], 2.0)

    def test_launch_runs_are_judged_on_wall_time(self):
        r = run("s", "glibc", 0, 5, launches=20)
        r["wall_ns"] = 3000000
        self.assertEqual(statistics.op_ns(r), 3000000)
        res = statistics.aggregate([("s", "glibc")], [r])
        self.assertEqual(res[0]["ns_per_op_median"], 3000000)

    def test_reference(self):
        self.assertEqual(statistics.reference(["glibc", "tcmalloc", "jemalloc"]), "jemalloc")
        self.assertEqual(statistics.reference(["glibc", "tcmalloc"]), "tcmalloc")
        self.assertEqual(statistics.reference(["hakmem-BALANCED", "glibc"]), "glibc")
        self.assertIsNone(statistics.reference(["hakmem-BALANCED"]))


class CommandAggregateTest(unittest.TestCase):
    def test_commands(self):
        runs = [run("c", "glibc", 0, 1, inside=None), run("c", "glibc", 1, 3, inside=None),
                run("c", "mimalloc", 0, 1, inside=None), run("c", "mimalloc", 1, 1, status="error", inside=None)]
        res = statistics.aggregate_commands([("c", "glibc"), ("c", "mimalloc")], runs, "glibc")
        g, m = res
        self.assertEqual((g["command"], g["status"], g["wall_ms_median"]), ("c", "ok", 0.002))
        self.assertEqual(m["status"], "failed")
        self.assertEqual(m["failures"][0]["status"], "error")
        self.assertTrue(g["best"])
        self.assertFalse(m["best"])


class PairsTest(unittest.TestCase):
    def test_pair_ratios(self):
        runs = [run("w", "base", 0, 100), run("w", "x", 0, 90), run("w", "base", 1, 200), run("w", "x", 1, 200),
                run("w", "base", 2, 100), run("w", "x", 2, 80)]
        res = statistics.aggregate([("w", "base"), ("w", "x")], runs)
        p = statistics.pairs(res, runs, [("w", "x", "base")])
        self.assertEqual(p[0]["ratio"], 0.9)
        self.assertAlmostEqual(p[0]["paired_ratio"], 0.9)  # median of 0.9, 1.0, 0.8
        res[0]["status"] = "failed"
        self.assertEqual(statistics.pairs(res, runs, [("w", "x", "base")])[0]["ratio"], None)


class GeomeanTest(unittest.TestCase):
    @staticmethod
    def res(wid, alloc, ns, status="ok"):
        return {"workload": wid, "allocator": alloc, "status": status, "ns_per_op_median": ns}

    def test_general_workloads_only_and_failures_count(self):
        results = [self.res("a", "ref", 100), self.res("a", "x", 200), self.res("a", "y", 50),
                   self.res("b", "ref", 100), self.res("b", "x", 50), self.res("b", "y", 100, status="failed"),
                   self.res("c", "ref", 1), self.res("c", "x", 1000), self.res("c", "y", 1)]
        g = statistics.geomean(results, [("a", tables.GENERAL), ("b", tables.GENERAL), ("c", tables.SCENARIO)],
                               ["ref", "x", "y"], "ref")
        self.assertEqual(g["workloads"], ["a", "b"])
        self.assertAlmostEqual(g["ratio"]["x"], 1.0)  # sqrt(2 * 0.5); c is not general
        self.assertAlmostEqual(g["ratio"]["ref"], 1.0)
        self.assertIsNone(g["ratio"]["y"])  # a failed cell must not improve the mean


class TablesTest(unittest.TestCase):
    def test_workload_ids(self):
        self.assertEqual(tables.workload_ids("scaling")[1], [("scaling-t1", 1), ("scaling-t2", 2), ("scaling-t4", 4),
                                                            ("scaling-t8", 8)])
        self.assertEqual(tables.workload_ids("scaling", scaling_threads=[3])[1], [("scaling-t3", 3)])
        self.assertEqual(tables.workload_ids("scaling-t4")[1], [("scaling-t4", 4)])
        self.assertEqual(tables.workload_ids("mixed-random")[1], [("mixed-random-t1", 1), ("mixed-random-t2", 2)])
        self.assertEqual(tables.workload_ids("mixed-random", threads=4)[1], [("mixed-random-t1", 1), ("mixed-random-t4", 4)])
        self.assertEqual(tables.workload_ids("larson", threads=3)[1], [("larson", 3)])
        self.assertEqual(tables.workload_ids("json")[1], [("json", 1)])
        with self.assertRaises(KeyError):
            tables.workload_ids("nope")

    def test_every_listed_workload_is_known(self):
        for w in tables.DEFAULT_WORKLOADS + tables.PHASE_WORKLOADS + tables.TARGET_WORKLOADS["learning"]:
            self.assertIn(w, tables.WORKLOAD_BY_NAME)
        self.assertEqual(len(tables.WORKLOAD_BY_NAME), len(tables.WORKLOADS))

    def test_launches(self):
        st = tables.WORKLOAD_BY_NAME["startup"]
        self.assertEqual(tables.launches_at(st, 1.0), st.launches)
        self.assertEqual(tables.launches_at(st, 0.01), 3)
        self.assertEqual(tables.launches_at(tables.WORKLOAD_BY_NAME["json"], 1.0), 1)

    def test_allocators_and_targets(self):
        t = tables.allocator_table("/x/libhakmem.so", {"tcmalloc": "/y/libtc.so"}, {"HAKMEM_EVO_WINDOW_OPS": "64"})
        self.assertEqual(t["tcmalloc"].preload, "/y/libtc.so")
        self.assertEqual(t["tcmalloc"].expect, "libtcmalloc")
        self.assertIsNone(t["glibc"].preload)
        self.assertEqual(t["hakmem-LEARNING"].env, {"HAKMEM_MODE": "LEARNING", "HAKMEM_EVO_WINDOW_OPS": "64"})
        self.assertEqual(t["hakmem-BALANCED"].env, {"HAKMEM_MODE": "BALANCED"})
        self.assertEqual(t[tables.NOWRAP].env, {"HAKMEM_MODE": "BALANCED", "HAKMEM_SITE_WRAPPERS": "0"})
        self.assertEqual(t["hakmem-T512K"].strategy, "512k")
        for target, names in tables.TARGETS.items():
            for n in names:
                self.assertIn(n, t, target)
        self.assertIn("tcmalloc", tables.TARGETS["all"])
        self.assertIn("tcmalloc", tables.TARGETS["vs_tcmalloc"])
        self.assertIn("wrapper", tables.DEFAULT_WORKLOADS)
        self.assertEqual(tables.WORKLOAD_BY_NAME["wrapper"].extra_allocators, (tables.NOWRAP,))


class LearningVerdictTest(unittest.TestCase):
    @staticmethod
    def res(wid, alloc, ns):
        return {"workload": wid, "allocator": alloc, "status": "ok", "ns_per_op_median": ns, "extra": {}}

    def test_none_without_fixed_or_a_learner(self):
        self.assertIsNone(learning.learning_summary([], ["hakmem-BALANCED", "hakmem-LEARNING"], ["w"]))
        self.assertIsNone(learning.learning_summary([], ["hakmem-MINIMAL", "hakmem-T64K"], ["w"]))
        ls = learning.learning_summary([], ["hakmem-BALANCED", "hakmem-T64K"], ["w"])  # the default's goals only
        self.assertEqual(ls["rows"], [])
        self.assertEqual(ls["default"]["rows"][0]["verdict_static"], "unavailable")

    def test_verdicts_on_medians(self):
        results = [self.res("w", "hakmem-T64K", 100), self.res("w", "hakmem-T2M", 200),
                   self.res("w", "hakmem-BALANCED", 200), self.res("w", "hakmem-LEARNING", 104)]
        ls = learning.learning_summary(results, ["hakmem-T64K", "hakmem-T2M", "hakmem-BALANCED", "hakmem-LEARNING"], ["w"])
        row = ls["rows"][0]
        self.assertEqual(row["best_fixed"], "hakmem-T64K")
        self.assertAlmostEqual(row["ratio_to_best"], 1.04)
        self.assertTrue(row["verdict_best"].startswith("met"), row["verdict_best"])
        self.assertTrue(row["verdict_balanced"].startswith("met: beats BALANCED"), row["verdict_balanced"])
        self.assertFalse(row["paired_reps"])
        results[-1]["ns_per_op_median"] = 120
        row = learning.learning_summary(results, ["hakmem-T64K", "hakmem-T2M", "hakmem-BALANCED", "hakmem-LEARNING"],
                                        ["w"])["rows"][0]
        self.assertTrue(row["verdict_best"].startswith("NOT met: 20% slower"), row["verdict_best"])


class PairedRatioTest(unittest.TestCase):
    """statistics.paired_ratio on made-up runs: the median of per-repetition ratios."""

    @staticmethod
    def mk(rep, alloc, ns, status="ok", wid="w"):
        return {"workload": wid, "allocator": alloc, "rep": rep, "status": status, "inside": {"ns_per_op": ns}}

    def test_pairs_by_repetition(self):
        # A slow spell (rep 1) slows both: the ratio of medians (110/100 = 1.1)
        # is not what any repetition showed; every pair says 1.05 or 1.0.
        runs = [self.mk(0, "a", 105), self.mk(0, "b", 100), self.mk(1, "a", 210), self.mk(1, "b", 200),
                self.mk(2, "a", 100), self.mk(2, "b", 100)]
        self.assertAlmostEqual(statistics.paired_ratio(runs, "w", "a", "b"), 1.05)

    def test_skips_failed_runs_and_other_workloads(self):
        runs = [self.mk(0, "a", 100), self.mk(0, "b", 50, status="timeout"), self.mk(1, "a", 120),
                self.mk(1, "b", 100), self.mk(2, "a", 90), self.mk(2, "b", 100), self.mk(2, "a", 1, wid="x")]
        self.assertAlmostEqual(statistics.paired_ratio(runs, "w", "a", "b"), (1.2 + 0.9) / 2)

    def test_median_interval(self):
        self.assertIsNone(statistics.median_interval([1.0]))
        lo, hi, cov = statistics.median_interval([1.2, 0.9, 1.0])  # too few for 95%: (min, max), 75%
        self.assertEqual((lo, hi), (0.9, 1.2))
        self.assertAlmostEqual(cov, 0.75)
        lo, hi, cov = statistics.median_interval(list(range(20)))  # n = 20: the 6th smallest to the 6th largest
        self.assertEqual((lo, hi), (5, 14))
        self.assertGreaterEqual(cov, 0.95)
        self.assertLess(statistics.median_interval(list(range(20)), 0.5)[2], cov)

    def test_needs_two_pairs(self):
        runs = [self.mk(0, "a", 100), self.mk(0, "b", 100), self.mk(1, "a", 100)]
        self.assertIsNone(statistics.paired_ratio(runs, "w", "a", "b"))


class AlikeGroupsTest(unittest.TestCase):
    """learning.alike_groups: fixed strategies that route a workload's sizes alike."""
    FIXED = ["hakmem-T64K", "hakmem-T128K", "hakmem-T256K", "hakmem-T512K", "hakmem-T1M", "hakmem-T2M"]

    @staticmethod
    def mk(sites, wid="w", status="ok"):
        return {"workload": wid, "status": status, "allocator": "hakmem-LEARNING", "rep": 0,
                "learn": {"sites": [{"name": n, "learn": {"sizes_seen": b}} for n, b in sites.items()]}}

    def test_thresholds(self):
        self.assertEqual(learning.fixed_threshold("hakmem-T512K"), 512 << 10)
        self.assertEqual(learning.fixed_threshold("hakmem-T2M"), 2 << 20)

    def test_bucket_route(self):
        row = strategies.by_name()["256k"]
        self.assertEqual(strategies.route(row, 17), "below")  # [128K, 256K) < 256K
        self.assertEqual(strategies.route(row, 18), "above")  # [256K, 512K) >= 256K

    def test_vm_like_sizes_group_every_threshold_up_to_the_block(self):
        # a 2 MiB block (bucket 21) and a 1.9 MB array (bucket 20): T2M sends the array below
        groups = learning.alike_groups([self.mk({"wl_malloc": [20, 21]})], "w", self.FIXED)
        self.assertEqual(groups, [self.FIXED[:5], ["hakmem-T2M"]])

    def test_sizes_of_every_site_and_run_count(self):
        runs = [self.mk({"a": [17]}), self.mk({"a": [19], "b": [18]}), self.mk({"c": [16]}, wid="x"),
                self.mk({"d": [25]}, status="timeout")]
        # buckets 17, 18, 19 (16 is another workload's, 25 a failed run's): T64K=T128K, T256K, T512K, T1M=T2M
        self.assertEqual(learning.alike_groups(runs, "w", self.FIXED),
                         [["hakmem-T64K", "hakmem-T128K"], ["hakmem-T256K"], ["hakmem-T512K"], ["hakmem-T1M", "hakmem-T2M"]])

    def test_unknown_sizes_keep_every_strategy_apart(self):
        singles = [[a] for a in self.FIXED]
        self.assertEqual(learning.alike_groups([], "w", self.FIXED), singles)
        self.assertEqual(learning.alike_groups([self.mk({"a": [20], "b": []})], "w", self.FIXED), singles)
        old = self.mk({"a": [20]})
        del old["learn"]["sites"][0]["learn"]["sizes_seen"]
        self.assertEqual(learning.alike_groups([old], "w", self.FIXED), singles)

    def test_group_runs_take_the_members_median_per_repetition(self):
        runs = [{"workload": "w", "allocator": a, "rep": rep, "status": "ok", "inside": {"ns_per_op": ns}}
                for a, rep, ns in [("x", 0, 10), ("y", 0, 14), ("z", 0, 100), ("x", 1, 20), ("y", 1, 22)]]
        g = statistics.group_runs(runs, "w", ["x", "y"], "g")
        self.assertEqual([(r["rep"], r["inside"]["ns_per_op"]) for r in g], [(0, 12), (1, 21)])


if __name__ == "__main__":
    unittest.main()
