"""cmd_test.py — --cmd end to end: the runner runs a user command that works
and one that fails (exit status 1, a message on stderr) under glibc and
hakmem BALANCED, with one tiny workload interleaved, and the HTML report
shows both under their names, the failed one marked failed with its exit
status and stderr; the other allocator and command still report.

Runs programs under LD_PRELOAD, so it is tagged replaces_malloc. A few
seconds. Called by: //compare:cmd_test.
"""

import json
import os
import re
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from compare import runner, schema_check  # noqa: E402


class CmdTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.out = tempfile.mkdtemp(prefix="compare-cmd-", dir=os.environ.get("TEST_TMPDIR"))
        cls.rc = runner.main(["--allocators", "glibc,hakmem-BALANCED", "--workloads", "small", "--scale", "0.01",
                              "--reps", "2", "--out", cls.out, "--quiet", "--no-history",
                              "--cmd", "echo=/bin/echo hi",
                              "--cmd", "broken=echo something went wrong >&2; false"])
        run_dir = [os.path.join(cls.out, d) for d in os.listdir(cls.out) if d[0].isdigit()][0]
        with open(os.path.join(run_dir, "results.json")) as f:
            cls.doc = json.load(f)
        with open(os.path.join(run_dir, "report", "index.html")) as f:
            cls.page = f.read()
        with open(os.path.join(run_dir, "report.txt")) as f:
            cls.text = f.read()

    def test_results(self):
        self.assertEqual(self.rc, 1)  # a failed cell fails the run
        self.assertEqual(schema_check.validate_file(self.doc, schema_check.default_schema_path()), [])
        self.assertEqual([c["name"] for c in self.doc["commands"]], ["echo", "broken"])
        by = {(r["command"], r["allocator"]): r for r in self.doc["command_results"]}
        for a in ("glibc", "hakmem-BALANCED"):
            ok, bad = by[("echo", a)], by[("broken", a)]
            self.assertEqual((ok["status"], ok["n_ok"]), ("ok", 2))
            self.assertGreater(ok["wall_ms_median"], 0)
            self.assertGreater(ok["maxrss_kb_median"], 0)
            self.assertGreater(ok["minflt_median"], 0)
            self.assertEqual((bad["status"], bad["n_failed"]), ("failed", 2))
            self.assertEqual(bad["failures"][0]["status"], "error")
            self.assertIn("exit status 1", bad["failures"][0]["message"])
            self.assertIn("something went wrong", bad["failures"][0]["message"])
        # interleaved with the workload: every repetition has both, and the workload is fine
        reps = {(r["workload"], r["rep"]) for r in self.doc["command_runs"]}
        self.assertEqual(reps, {(c, rep) for c in ("echo", "broken") for rep in (0, 1)})
        self.assertEqual({r["status"] for r in self.doc["results"]}, {"ok"})

    def test_command_ran_under_the_allocator(self):
        # peak RSS from cmd_launch's fork, not the Python runner's image (~20 MB)
        for r in self.doc["command_runs"]:
            if r["workload"] == "echo":
                self.assertLess(r["maxrss_kb"], 16 * 1024, r)

    def test_html(self):
        section = self.page[self.page.index('id="commands"'):]
        section = section[:section.index("</table>")]
        self.assertRegex(section, r">echo<br>")
        self.assertRegex(section, r">broken<br>")
        self.assertEqual(len(re.findall(r'class="fail">FAILED \(error\)', section)), 2)
        self.assertIn("exit status 1: something went wrong", section)
        self.assertEqual(len(re.findall(r"[0-9.]+ ms<br>", section)), 2)  # echo under both allocators
        self.assertIn("broken", self.page[self.page.index('id="failures"'):])

    def test_text(self):
        self.assertRegex(self.text, r"\| echo +\| [0-9.]+ / ")
        self.assertRegex(self.text, r"\| broken +\| FAIL\(error 2/2\)")


if __name__ == "__main__":
    unittest.main()
