"""runner.py — runs the comparison workloads under each allocator, writes JSON
results, a text table and the HTML report (through //dashboard).

Owns: the allocator table (which library to LD_PRELOAD, which environment),
the workload list, the run plan (allocators interleaved across repetitions),
measuring one run from the outside (wall time, wait4 rusage), classifying
failures, aggregating (median, p95, ratios) and the output folder layout:

  <workspace>/out/compare/<run_id>/results.json   one run, schema compare/results.schema.json
  <workspace>/out/compare/<run_id>/report.txt     the plain tables printed at the end
  <workspace>/out/compare/<run_id>/report/        the HTML report (index.html + charts/)
  <workspace>/out/compare/history.jsonl           one summary line per run, appended
  <workspace>/out/compare/latest                  symlink to the newest run folder

Called by: the //compare:vs_* targets (bazel run), the smoke test. Python 3
standard library only.
"""

import argparse
import datetime
import json
import math
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))  # runfiles/<ws>/compare (not resolved)
sys.path.insert(0, os.path.dirname(HERE))

from compare import schema_check  # noqa: E402
from dashboard import render  # noqa: E402

SCHEMA_VERSION = "hakmem-compare/1"
SYSTEM_LIBDIRS = ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib"]

# --- allocators -------------------------------------------------------------------
# name: (library file to preload, or None for glibc; extra environment)
HAKMEM_MODES = ["MINIMAL", "FAST", "BALANCED", "LEARNING", "RESEARCH"]

# Fixed per-site strategies (issue 6): hakmem with learning frozen on one row
# of the UCB1 set of hakmem/policy/strategy.h: a frozen site starts on the row
# nearest HAKMEM_EVO_INITIAL.
# name suffix: (HAKMEM_EVO_INITIAL, strategy name in the stats JSON)
FIXED_STRATEGIES = {"T64K": ("64K", "64k"), "T128K": ("128K", "128k"), "T256K": ("256K", "256k"),
                    "T512K": ("512K", "512k"), "T1M": ("1M", "1m"), "T2M": ("2M", "2m")}
FIXED_UNAVAILABLE = {}
FIXED_NOTE = ""
LEARNING_GOAL = 1.05  # issue 6: LEARNING within 5% of the best fixed strategy in hindsight


def allocator_table(hakmem_lib, mimalloc_lib, jemalloc_lib, learning_env=None):
    table = {
        "glibc": {"preload": None, "env": {}, "expect": "libc.so"},
        "mimalloc": {"preload": mimalloc_lib, "env": {}, "expect": "libmimalloc"},
        "jemalloc": {"preload": jemalloc_lib, "env": {}, "expect": "libjemalloc"},
    }
    for mode in HAKMEM_MODES:
        table["hakmem-" + mode] = {"preload": hakmem_lib, "env": {"HAKMEM_MODE": mode}, "expect": "libhakmem"}
    table["hakmem-LEARNING"]["env"].update(learning_env or {})
    for suffix, (threshold, strategy) in FIXED_STRATEGIES.items():
        table["hakmem-" + suffix] = {"preload": hakmem_lib, "expect": "libhakmem", "strategy": strategy,
                                     "env": {"HAKMEM_EVO": "frozen", "HAKMEM_EVO_INITIAL": threshold}}
    return table


# Which allocators each target compares. glibc is always there (the baseline
# every ratio can fall back to).
TARGETS = {
    "vs_mimalloc": ["glibc", "mimalloc", "hakmem-MINIMAL", "hakmem-BALANCED"],
    "vs_jemalloc": ["glibc", "jemalloc", "hakmem-MINIMAL", "hakmem-BALANCED"],
    "vs_glibc": ["glibc", "hakmem-MINIMAL", "hakmem-BALANCED"],
    "all": ["glibc", "mimalloc", "jemalloc", "hakmem-MINIMAL", "hakmem-BALANCED", "hakmem-LEARNING"],
    # issue 6: LEARNING against every fixed strategy and BALANCED (the default strategy)
    "learning": ["hakmem-" + s for s in FIXED_STRATEGIES] + ["hakmem-BALANCED", "hakmem-LEARNING"],
}

# --- workloads --------------------------------------------------------------------
# name: (binary, threads flag default or None, what one op is)
WORKLOADS = {
    "json": ("wl_json", None, "JSON: ~64 KiB buffers, window of 16", "malloc+fill+check+free of one buffer"),
    "mir": ("wl_mir", None, "MIR: ~256 KiB blocks, window of 8", "malloc+fill+check+free of one block"),
    "vm": ("wl_vm", None, "VM: 2 MiB buffer, one byte per 4 KiB page", "one iteration (malloc, 512 page writes, verify, free)"),
    "mixed": ("wl_mixed", None, "MIXED: 70% small, 20% JSON, 8% MIR, 2% VM sizes", "malloc+fill+check+free of one block"),
    "small": ("wl_small", None, "small-object churn, 8-1024 B", "one free + one malloc"),
    "larson": ("wl_larson", 2, "larson-style server, threads free each other's objects", "one free + one malloc"),
    "prodcons": ("wl_prodcons", 2, "producer/consumer cross-thread frees", "one message (malloc on one thread, free on another)"),
    "realloc": ("wl_realloc", None, "realloc growth (vectors x2, strings x1.5)", "one realloc"),
    "frag": ("wl_frag", None, "fragmentation: fill 96 MiB, free 90%, refill", "one malloc or free"),
    "scaling": ("wl_scaling", None, "thread scaling, thread-local small churn", "one free + one malloc"),
    "phase-size": ("wl_phase_size", None, "PHASE-SIZE: one site, ~96 KiB then ~1.5 MiB buffers, window of 8",
                   "malloc+fill+check+free of one buffer"),
    "phase-life": ("wl_phase_life", None, "PHASE-LIFE: one site, ~384 KiB window of 8, then generations of 128 freed together",
                   "malloc+fill+check+free of one block"),
    "two-sites": ("wl_two_sites", None, "TWO-SITES: ~384 KiB window of 8 at one site, ~320 KiB generations of 128 at another",
                  "malloc+fill+check+free of one block (either site)"),
}
DEFAULT_WORKLOADS = ["json", "mir", "vm", "mixed", "small", "larson", "prodcons", "realloc", "frag", "scaling"]
PHASE_WORKLOADS = ["phase-size", "phase-life", "two-sites"]
# Workloads a target runs when --workloads is not given (default: DEFAULT_WORKLOADS).
TARGET_WORKLOADS = {"learning": PHASE_WORKLOADS + ["vm", "json", "mir"]}
# The learning target runs these workloads longer (x the scale), so that at
# its default scale (2) every workload lasts about a second or more: at scale
# 1 vm, mir and json last 10-40 ms. A learner pays a fixed cost before it
# freezes (on mir ~20 ms: its exploring windows, the page faults of touching
# each candidate's memory once, and LEARN's counting), which is 7-8% of a
# 330 ms run and ~2% of a 1 s one (compare/README.md).
LEARNING_SCALE = {"vm": 60, "mir": 60, "json": 15}
# ... and repeats these more (x --reps). A vm run reuses one 2 MiB block for
# its whole life, and where the kernel placed that block's pages decides the
# run's speed: the same touch loop over 8 fresh mappings in one process took
# 1.40-1.64 us per pass, and vm runs of one allocator spread +-12% (3,470-
# 4,960 ns/op in one 7-rep run). Its fixed strategies all route the block
# alike, so only repetitions tell LEARNING's cost from that noise.
LEARNING_REPS = {"vm": 3}

EXIT_CHECK = 2  # compare/workloads/common.h WL_EXIT_CHECK
EXIT_OOM = 3


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="compare",
        description="Run hakmem's comparison workloads under several allocators (LD_PRELOAD) "
        "and write JSON results plus an HTML report.",
    )
    p.add_argument("--target", default="vs_mimalloc", choices=sorted(TARGETS), help="preset allocator set (default %(default)s)")
    p.add_argument("--allocators", help="comma list overriding the target's set, e.g. glibc,mimalloc,hakmem-FAST. "
                   "Known: glibc, mimalloc, jemalloc, hakmem-{%s}; NAME=/path/lib.so adds a custom one" % ",".join(HAKMEM_MODES))
    p.add_argument("--learning", action="store_true", help="also run hakmem-LEARNING (the 'all' target always does)")
    p.add_argument("--workloads", default=None, help="comma list (default: the target's; all of %s, or for 'learning' %s); "
                   "also known: %s" % (",".join(DEFAULT_WORKLOADS), ",".join(TARGET_WORKLOADS["learning"]), ",".join(PHASE_WORKLOADS)))
    p.add_argument("--learn-ms", type=int, default=None,
                   help="hakmem-LEARNING's HAKMEM_EVO_MIN_LEARN_MS (default: the allocator's 10 s; target 'learning': "
                        "25 x scale, so that a site can freeze early in a run of 0.1-2 s)")
    p.add_argument("--evo-window-ops", type=int, default=None, help="hakmem-LEARNING's HAKMEM_EVO_WINDOW_OPS (default: the allocator's)")
    p.add_argument("--reps", type=int, default=None, help="repetitions per workload and allocator (default 5; target 'learning': 7)")
    p.add_argument("--scale", type=float, default=None,
                   help="work multiplier passed to every workload (default 1; target 'learning': 2, so that "
                        "exploration is a small part of each run)")
    p.add_argument("--threads", type=int, default=None, help="threads for larson and prodcons (default 2)")
    p.add_argument("--scaling-threads", default="1,2,4,8", help="thread counts of the scaling workload (default %(default)s)")
    p.add_argument("--seed", type=int, default=42, help="seed passed to every workload (default %(default)s)")
    p.add_argument("--timeout", type=float, default=None, help="seconds before one run counts as a timeout (default 120 x max(1, scale))")
    p.add_argument("--out", help="output root (default <workspace>/out/compare)")
    p.add_argument("--bin-dir", default=HERE, help="where the wl_* binaries are (default: next to this script)")
    p.add_argument("--hakmem-lib", default=None, help="libhakmem.so to preload (default: //hakmem:libhakmem.so from runfiles)")
    p.add_argument("--mimalloc-lib", default=None, help="default: Debian's libmimalloc.so.2")
    p.add_argument("--jemalloc-lib", default=None, help="default: Debian's libjemalloc.so.2")
    p.add_argument("--no-history", action="store_true", help="do not append to history.jsonl")
    p.add_argument("--no-report", action="store_true", help="skip the HTML report")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    a = p.parse_args(argv)
    if a.scale is None:
        a.scale = 2.0 if a.target == "learning" else 1.0
    if a.reps is None:
        a.reps = 7 if a.target == "learning" else 5
    if a.reps < 1:
        p.error("--reps must be >= 1")
    if not (a.scale > 0):
        p.error("--scale must be > 0")
    if a.workloads is None:
        a.workloads = ",".join(TARGET_WORKLOADS.get(a.target, DEFAULT_WORKLOADS))
    if a.learn_ms is None and a.target == "learning":
        a.learn_ms = max(1, int(round(25 * a.scale)))
    return a


# --- environment discovery ----------------------------------------------------------

def find_system_lib(name):
    for d in SYSTEM_LIBDIRS:
        path = os.path.join(d, name)
        if os.path.exists(path):
            return path
    return os.path.join(SYSTEM_LIBDIRS[0], name)


def default_hakmem_lib():
    root = os.path.dirname(HERE)  # runfiles/<workspace>
    return os.path.join(root, "hakmem", "libhakmem.so")


def workspace_dir():
    ws = os.environ.get("BUILD_WORKSPACE_DIRECTORY")
    if ws:
        return ws
    return os.getcwd()


def git_info(ws):
    def git(*args):
        try:
            return subprocess.run(["git", "-C", ws] + list(args), capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    commit = git("rev-parse", "HEAD")
    return {
        "commit": commit or "unknown",
        "short": commit[:10] if commit else "unknown",
        "branch": git("rev-parse", "--abbrev-ref", "HEAD") or "unknown",
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "subject": git("log", "-1", "--format=%s"),
    }


def read_first(path, key):
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def perf_instructions_available():
    """True if `perf stat -e instructions:u` counts here (it does not on many VMs)."""
    if not shutil.which("perf"):
        return False
    try:
        r = subprocess.run(["perf", "stat", "-x,", "-e", "instructions:u", "true"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return False
    for line in r.stderr.splitlines():
        fields = line.split(",")
        if len(fields) > 2 and "instructions" in fields[2]:
            return fields[0].strip().isdigit()
    return False


def pkg_version(pkg):
    try:
        r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, text=True, timeout=10)
        return r.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def machine_info(perf_ok):
    mem_kb = read_first("/proc/meminfo", "MemTotal").split()
    return {
        "hostname": socket.gethostname(),
        "cpu_model": read_first("/proc/cpuinfo", "model name") or platform.processor() or "unknown",
        "cpus": os.cpu_count() or 1,
        "mem_total_kb": int(mem_kb[0]) if mem_kb else 0,
        "kernel": platform.release(),
        "arch": platform.machine(),
        "glibc": os.confstr("CS_GNU_LIBC_VERSION") if hasattr(os, "confstr") else "unknown",
        "python": platform.python_version(),
        "perf_instructions": perf_ok,
    }


# --- one run -------------------------------------------------------------------------

def child_env(alloc):
    env = {k: v for k, v in os.environ.items()
           if not (k == "LD_PRELOAD" or k.startswith(("HAKMEM_", "MALLOC_", "MIMALLOC_", "JE_MALLOC", "GLIBC_TUNABLES"))
                   or k in ("MALLOC_CONF", "RUNFILES_DIR", "RUNFILES_MANIFEST_FILE", "PYTHONPATH"))}
    if alloc["preload"]:
        env["LD_PRELOAD"] = alloc["preload"]
    env.update(alloc["env"])
    return env


def tail(path, limit=600):
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - limit))
            return f.read().decode("utf-8", "replace").strip()
    except OSError:
        return ""


def read_learn(path):
    """The learning sites from the stats file a workload wrote (HAK_COMPARE_STATS_OUT), or None.

    Keeps, per site with a learning state, its address, the workload's name for
    it (the WL_SITE helper the address falls in), allocations and the "learn"
    object of hakmem's stats JSON (state, strategy, ratings, history...)."""
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError):
        return None
    names = sorted(((int(n["addr"], 16), n["name"]) for n in doc.get("site_names", [])), reverse=True)
    sites = []
    for st in doc.get("stats", {}).get("sites", []):
        if not st.get("learn"):
            continue
        addr = int(st["site"], 16)
        # a call site is a return address inside the helper: the nearest helper start below it
        name = next((n for a, n in names if a <= addr < a + 512), st["site"])
        sites.append({"site": st["site"], "name": name, "allocs": st.get("allocs", 0), "learn": st["learn"]})
    sites.sort(key=lambda x: x["name"])
    return {"mode": doc.get("stats", {}).get("mode", ""), "sites": sites}


def run_once(argv, alloc, timeout, tmpdir):
    """Runs one workload process; returns the measurement dict (status 'ok' or a failure)."""
    out_path = os.path.join(tmpdir, "stdout")
    err_path = os.path.join(tmpdir, "stderr")
    stats_path = os.path.join(tmpdir, "stats.json")
    if os.path.exists(stats_path):
        os.unlink(stats_path)
    res = {"status": "ok", "exit_code": None, "signal": None, "wall_ns": None, "minflt": None,
           "majflt": None, "maxrss_kb": None, "ru_maxrss_kb": None, "instructions": None, "inside": None, "message": "",
           "learn": None}
    if alloc["preload"] and not os.path.exists(alloc["preload"]):
        res["status"] = "error"
        res["message"] = "preload library not found: " + alloc["preload"]
        return res
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        timed_out = threading.Event()
        reaped = threading.Event()
        lock = threading.Lock()
        t0 = time.perf_counter_ns()
        env = child_env(alloc)
        env["HAK_COMPARE_STATS_OUT"] = stats_path  # hakmem writes its stats there at exit; others ignore it
        pid = os.posix_spawn(argv[0], argv, env,
                             file_actions=[(os.POSIX_SPAWN_DUP2, out.fileno(), 1), (os.POSIX_SPAWN_DUP2, err.fileno(), 2)],
                             setsid=True)

        def kill():
            with lock:
                if not reaped.is_set():
                    timed_out.set()
                    try:
                        os.killpg(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass

        timer = threading.Timer(timeout, kill)
        timer.start()
        while True:
            try:
                _, status, ru = os.wait4(pid, 0)
                break
            except InterruptedError:
                continue
        t1 = time.perf_counter_ns()
        with lock:
            reaped.set()
        timer.cancel()
    res["wall_ns"] = t1 - t0
    res["minflt"] = ru.ru_minflt
    res["majflt"] = ru.ru_majflt
    # ru_maxrss also counts the spawning (Python) process image from before
    # exec, so it is never below ~20 MB here; keep it, but use VmHWM below.
    res["ru_maxrss_kb"] = ru.ru_maxrss
    stderr_tail = tail(err_path)
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        res["signal"] = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        if timed_out.is_set():
            res["status"] = "timeout"
            res["message"] = "killed after %.0f s" % timeout
        else:
            res["status"] = "crash"
            res["message"] = "killed by " + res["signal"] + (": " + stderr_tail if stderr_tail else "")
        return res
    code = os.WEXITSTATUS(status)
    res["exit_code"] = code
    if code == EXIT_CHECK:
        res["status"] = "check_failed"
        res["message"] = stderr_tail or "pattern check failed"
        return res
    if code != 0:
        res["status"] = "error"
        res["message"] = ("exit %d (malloc returned NULL)" % code) if code == EXIT_OOM else ("exit %d: %s" % (code, stderr_tail))
        return res
    inside = None
    with open(out_path, "r", errors="replace") as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                try:
                    inside = json.loads(line)
                except ValueError:
                    pass
    if inside is None:
        res["status"] = "error"
        res["message"] = "no JSON result line on stdout"
        return res
    res["inside"] = inside
    res["maxrss_kb"] = inside.get("peak_rss_kb")
    if alloc["expect"] not in os.path.basename(inside.get("malloc_from", "")):
        res["status"] = "preload_inactive"
        res["message"] = "malloc came from %s, expected %s" % (inside.get("malloc_from"), alloc["expect"])
        return res
    res["learn"] = read_learn(stats_path)
    want = alloc.get("strategy")
    if want:  # a fixed strategy: prove every learning site really ran on it
        if res["learn"] is None:
            res["status"] = "error"
            res["message"] = "no allocator statistics (HAK_COMPARE_STATS_OUT): cannot confirm strategy %s" % want
        else:
            wrong = [(x["name"], x["learn"].get("state"), x["learn"].get("strategy")) for x in res["learn"]["sites"]
                     if x["learn"].get("strategy") != want or x["learn"].get("state") != "FROZEN"]
            if wrong:
                res["status"] = "error"
                res["message"] = "strategy not pinned: expected FROZEN on %s, sites had %s" % (
                    want, ", ".join("%s %s on %s" % w for w in wrong))
    return res


def perf_instructions(argv, alloc, timeout):
    """One extra run under perf stat (only when perf counts on this machine)."""
    fd, path = tempfile.mkstemp(prefix="perf-", suffix=".csv")
    os.close(fd)
    env = child_env({"preload": None, "env": {}})
    cmd = ["perf", "stat", "-x,", "-e", "instructions:u", "-o", path, "--", "env"]
    if alloc["preload"]:
        cmd.append("LD_PRELOAD=" + alloc["preload"])
    cmd += ["%s=%s" % kv for kv in alloc["env"].items()] + argv
    try:
        subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=timeout)
        with open(path) as f:
            for line in f:
                fields = line.split(",")
                if len(fields) > 2 and "instructions" in fields[2] and fields[0].strip().isdigit():
                    return int(fields[0])
    except (OSError, subprocess.SubprocessError):
        pass
    finally:
        os.unlink(path)
    return None


# --- statistics ------------------------------------------------------------------------

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


def aggregate(plan_ids, alloc_names, runs, workload_meta):
    """One result per (workload, allocator): medians over ok runs, failures kept."""
    results = []
    # The checksum is a pure function of workload, scale and seed: every
    # allocator must read back the same bytes. The most common one is right.
    checks = {}
    for r in runs:
        if r["status"] == "ok":
            checks.setdefault(r["workload"], {}).setdefault(r["inside"]["checksum"], 0)
            checks[r["workload"]][r["inside"]["checksum"]] += 1
    for r in runs:
        if r["status"] == "ok":
            counts = checks[r["workload"]]
            want = max(counts, key=counts.get)
            if r["inside"]["checksum"] != want:
                r["status"] = "checksum_mismatch"
                r["message"] = "read back checksum %s, other allocators %s" % (r["inside"]["checksum"], want)
    for wid in plan_ids:
        for name in alloc_names:
            mine = [r for r in runs if r["workload"] == wid and r["allocator"] == name]
            ok = [r for r in mine if r["status"] == "ok"]
            bad = [r for r in mine if r["status"] != "ok"]
            res = {
                "workload": wid,
                "allocator": name,
                "status": "ok" if ok and not bad else "failed",
                "n_ok": len(ok),
                "n_failed": len(bad),
                "failures": [{"rep": r["rep"], "status": r["status"], "message": r["message"][:400]} for r in bad],
                "wall_ms_median": None, "wall_ms_p95": None, "ns_per_op_median": None, "ns_per_op_p95": None,
                "ops": None, "minflt_median": None, "maxrss_kb_median": None, "maxrss_kb_max": None,
                "instructions": None, "extra": {}, "ratio_to_mimalloc": None, "ratio_to_glibc": None, "best": False,
            }
            if ok:
                wall = [r["wall_ns"] / 1e6 for r in ok]
                nsop = [r["inside"]["ns_per_op"] for r in ok]
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
    by = {(r["workload"], r["allocator"]): r for r in results}
    for wid in plan_ids:
        row = [by[(wid, a)] for a in alloc_names]
        for r in row:
            for ref in ("mimalloc", "glibc"):
                base = by.get((wid, ref))
                if base and base["status"] == "ok" and r["ns_per_op_median"] is not None and base["ns_per_op_median"]:
                    r["ratio_to_" + ref] = r["ns_per_op_median"] / base["ns_per_op_median"]
        good = [r for r in row if r["status"] == "ok"]
        if good:
            min(good, key=lambda r: r["ns_per_op_median"])["best"] = True
    return results


def paired_ratio(runs, wid, a, b):
    """Median over repetitions of a's ns/op over b's in the same repetition
    (None with fewer than 2 such pairs). The runs of one repetition are
    adjacent in time, so a slow spell of the machine slows both sides of a
    pair: the paired ratio carries less of that noise than a ratio of medians."""
    per = {}
    for r in runs:
        if r["workload"] == wid and r["status"] == "ok" and r["allocator"] in (a, b):
            per.setdefault(r["rep"], {})[r["allocator"]] = r["inside"]["ns_per_op"]
    ratios = [v[a] / v[b] for v in per.values() if a in v and b in v and v[b]]
    return median(ratios) if len(ratios) >= 2 else None


def fixed_threshold(alloc):
    """hakmem-T512K -> 524288: the large-block threshold a fixed strategy pins."""
    text = FIXED_STRATEGIES[alloc[len("hakmem-"):]][0]
    return int(text[:-1]) << {"K": 10, "M": 20}[text[-1]]


def bucket_route(t, b):
    """Where threshold t sends the requests of log2 size bucket b
    ([2^b, 2^(b+1))), as hakmem/policy/evo.c's bucket_route: all below it,
    all from it up, or split at t itself (unlike any other threshold)."""
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


def group_runs(runs, wid, members, name):
    """One run per repetition for a group of alike strategies: the median of
    its members' ns/op in that repetition, under allocator `name`."""
    per = {}
    for r in runs:
        if r["workload"] == wid and r["status"] == "ok" and r["allocator"] in members:
            per.setdefault(r["rep"], []).append(r["inside"]["ns_per_op"])
    return [{"workload": wid, "allocator": name, "rep": rep, "status": "ok", "inside": {"ns_per_op": median(v)}}
            for rep, v in sorted(per.items())]


def alike_label(members):
    """hakmem-T512K, or for a group of alike strategies hakmem-T512K=T1M=T2M."""
    return "hakmem-" + "=".join(a[len("hakmem-"):] for a in members)


def learning_summary(results, alloc_names, workload_ids, runs=()):
    """issue 6: per workload, hakmem-LEARNING against the best fixed strategy in
    hindsight (goal: ratio <= LEARNING_GOAL) and against hakmem-BALANCED (the
    default strategy: LEARNING should beat it where the best is not the default).
    Fixed strategies that route the workload's requests alike count as one
    (alike_groups; a group's ns/op per repetition is its members' median);
    the best is the group with the lowest median ns/op. The ratios are paired
    per repetition (paired_ratio) where the runs allow, else ratios of
    medians (both are kept). None when the run has no LEARNING or no fixed
    strategy."""
    fixed = [a for a in alloc_names if a[len("hakmem-"):] in FIXED_STRATEGIES]
    if "hakmem-LEARNING" not in alloc_names or not fixed:
        return None
    by = {(r["workload"], r["allocator"]): r for r in results}

    def ok(r):
        return r is not None and r["status"] == "ok" and r["ns_per_op_median"]

    def cpu(r):
        return r["extra"].get("cpu_ns_per_op") if ok(r) else None

    rows = []
    for wid in workload_ids:
        lr, bl = by.get((wid, "hakmem-LEARNING")), by.get((wid, "hakmem-BALANCED"))
        good = [a for a in fixed if ok(by.get((wid, a)))]
        best = best_runs = None  # the best group: a result-like dict, and its runs per repetition
        for members in alike_groups(runs, wid, good):
            g_runs = group_runs(runs, wid, members, "group") if runs else []
            ns = median([x["inside"]["ns_per_op"] for x in g_runs]) if g_runs else median(
                [by[(wid, a)]["ns_per_op_median"] for a in members])
            if best is None or ns < best["ns_per_op_median"]:
                lead = min(members, key=lambda a: by[(wid, a)]["ns_per_op_median"])
                best = {"allocator": lead, "members": members, "ns_per_op_median": ns,
                        "extra": {"cpu_ns_per_op": median([cpu(by[(wid, a)]) for a in members])}}
                best_runs = g_runs
        row = {"workload": wid, "learning_ns": lr["ns_per_op_median"] if ok(lr) else None,
               "best_fixed": best["allocator"] if best else None, "best_fixed_ns": best["ns_per_op_median"] if best else None,
               "best_alike": best["members"] if best else [],
               "balanced_ns": bl["ns_per_op_median"] if ok(bl) else None,
               "fixed_ns": {a: (by[(wid, a)]["ns_per_op_median"] if ok(by.get((wid, a))) else None) for a in fixed},
               "ratio_to_best": None, "ratio_to_balanced": None, "cpu_ratio_to_best": None, "median_ratio_to_best": None,
               "paired_reps": None,
               "verdict_best": "unavailable", "verdict_balanced": "unavailable"}
        if ok(lr) and best:
            row["median_ratio_to_best"] = lr["ns_per_op_median"] / best["ns_per_op_median"]
            pr = paired_ratio([r for r in runs if r["allocator"] == "hakmem-LEARNING"] + best_runs, wid,
                              "hakmem-LEARNING", "group")
            row["paired_reps"] = pr is not None
            row["ratio_to_best"] = rb = pr if pr is not None else row["median_ratio_to_best"]
            name = alike_label(best["members"])
            row["verdict_best"] = ("met: within %.0f%% of %s" % ((LEARNING_GOAL - 1) * 100, name) if rb <= LEARNING_GOAL
                                   else "NOT met: %.0f%% slower than %s" % ((rb - 1) * 100, name))
            cl, cb = cpu(lr), best["extra"]["cpu_ns_per_op"]
            if cl and cb:
                row["cpu_ratio_to_best"] = cl / cb
        if ok(lr) and ok(bl):
            pb = paired_ratio(runs, wid, "hakmem-LEARNING", "hakmem-BALANCED")
            row["ratio_to_balanced"] = rbal = pb if pb is not None else lr["ns_per_op_median"] / bl["ns_per_op_median"]
            default_best = best is None or bl["ns_per_op_median"] <= best["ns_per_op_median"] * LEARNING_GOAL
            if default_best:
                row["verdict_balanced"] = "n/a: BALANCED is (within %.0f%%) the best; LEARNING %s it" % (
                    (LEARNING_GOAL - 1) * 100, "beats" if rbal < 1 else "is %.0f%% slower than" % ((rbal - 1) * 100))
            else:
                row["verdict_balanced"] = ("met: beats BALANCED by %.0f%%" % ((1 - rbal) * 100) if rbal < 1
                                           else "NOT met: %.0f%% slower than BALANCED" % ((rbal - 1) * 100))
        rows.append(row)
    return {"goal": LEARNING_GOAL, "fixed": fixed, "unavailable": sorted(FIXED_UNAVAILABLE), "note": FIXED_NOTE, "rows": rows}


def headline(results):
    """The VM numbers issue 2 is judged by: hakmem MINIMAL vs BALANCED."""
    by = {(r["workload"], r["allocator"]): r for r in results}
    mn, bl = by.get(("vm", "hakmem-MINIMAL")), by.get(("vm", "hakmem-BALANCED"))
    h = {"vm_minimal_iter_median_ns": None, "vm_balanced_iter_median_ns": None, "vm_speedup_balanced_vs_minimal": None,
         "vm_target_speedup": 13.95}
    if mn and bl and mn["status"] == "ok" and bl["status"] == "ok":
        a, b = mn["extra"].get("iter_median_ns"), bl["extra"].get("iter_median_ns")
        h["vm_minimal_iter_median_ns"], h["vm_balanced_iter_median_ns"] = a, b
        if a and b:
            h["vm_speedup_balanced_vs_minimal"] = a / b
    return h


# --- text tables ---------------------------------------------------------------------------

def fmt_num(x, digits=3):
    if x is None:
        return "-"
    if x >= 100:
        return "{:,.0f}".format(x)
    return "{:.{}g}".format(x, digits)


def cell(r, ref):
    if r["status"] != "ok":
        kinds = sorted(set(f["status"] for f in r["failures"])) or ["failed"]
        return "FAIL(%s %d/%d)" % ("+".join(kinds), r["n_failed"], r["n_ok"] + r["n_failed"])
    s = fmt_num(r["ns_per_op_median"])
    ratio = r.get("ratio_to_" + ref)
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


def text_report(doc):
    res = doc["results"]
    allocs = [a["name"] for a in doc["allocators"]]
    ids = [w["id"] for w in doc["workloads"]]
    by = {(r["workload"], r["allocator"]): r for r in res}
    ref = "mimalloc" if "mimalloc" in allocs else "glibc"
    has_modes = "hakmem-MINIMAL" in allocs and "hakmem-BALANCED" in allocs
    m = doc["machine"]
    out = []
    out.append("hakmem comparison: %s, scale %g, %d reps, commit %s%s, %s, %s x%d" % (
        doc["config"]["target"], doc["config"]["scale"], doc["config"]["reps"], doc["git"]["short"],
        " (dirty)" if doc["git"]["dirty"] else "", doc["date"], m["cpu_model"], m["cpus"]))
    out.append("")
    out.append("Median ns per operation (lower is better); (x) = ratio to %s; **bold** = best in row." % ref)
    header = ["workload"] + allocs + (["BALANCED vs MINIMAL"] if has_modes else [])
    rows = []
    for wid in ids:
        row = [wid] + [cell(by[(wid, a)], ref) for a in allocs]
        if has_modes:
            mn, bl = by[(wid, "hakmem-MINIMAL")], by[(wid, "hakmem-BALANCED")]
            if mn["status"] == "ok" and bl["status"] == "ok" and bl["ns_per_op_median"]:
                row.append("%.2fx" % (mn["ns_per_op_median"] / bl["ns_per_op_median"]))
            else:
                row.append("-")
        rows.append(row)
    out.append(md_table(header, rows))
    if "vm" in ids:
        out.append("")
        out.append("VM scenario (malloc 2 MiB, write 1 byte per 4 KiB page, free), per allocator:")
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
        elif has_modes:
            out.append("VM speedup hakmem BALANCED vs MINIMAL: unavailable (a hakmem run failed, see above)")
    out.append("")
    out.append("Peak RSS in MiB (median of runs) / minor page faults:")
    rows = []
    for wid in ids:
        row = [wid]
        for a in allocs:
            r = by[(wid, a)]
            row.append("-" if r["status"] != "ok" else "%.1f / %s" % (r["maxrss_kb_median"] / 1024, fmt_num(r["minflt_median"])))
        rows.append(row)
    out.append(md_table(["workload"] + allocs, rows))
    if not m["perf_instructions"]:
        out.append("Instructions: unavailable (perf stat cannot count instructions on this machine).")
    ls = doc.get("learning")
    if ls:
        out.append("")
        out.append("LEARNING vs fixed strategies (median ns/op; goal: LEARNING <= %.2fx the best fixed strategy in hindsight, "
                   "and faster than BALANCED where BALANCED is not the best; A=B: fixed strategies that route the workload's "
                   "requests alike, counted as one; ratios are medians of per-repetition ratios, 'of medians' is the "
                   "ratio of the medians):" % ls["goal"])
        rows = []
        for r in ls["rows"]:
            best = alike_label(r["best_alike"])[len("hakmem-"):] if r.get("best_alike") else (r["best_fixed"] or "-").replace("hakmem-", "")
            rows.append([r["workload"], fmt_num(r["learning_ns"]), "%s %s" % (fmt_num(r["best_fixed_ns"]), best),
                         "-" if r["ratio_to_best"] is None else "%.3fx" % r["ratio_to_best"],
                         "-" if r["median_ratio_to_best"] is None else "%.3fx" % r["median_ratio_to_best"],
                         "-" if r["cpu_ratio_to_best"] is None else "%.3fx" % r["cpu_ratio_to_best"],
                         fmt_num(r["balanced_ns"]), "-" if r["ratio_to_balanced"] is None else "%.3fx" % r["ratio_to_balanced"]])
        out.append(md_table(["workload", "LEARNING", "best fixed", "LEARNING/best", "(of medians)", "(CPU time)", "BALANCED",
                               "LEARNING/BALANCED"], rows))
        for r in ls["rows"]:
            out.append("  %-10s vs best fixed: %s; vs BALANCED: %s" % (r["workload"], r["verdict_best"], r["verdict_balanced"]))
        out.append("  (%s)" % ls["note"])
    failures = [(r["workload"], r["allocator"], f) for r in res for f in r["failures"]]
    if failures:
        out.append("")
        out.append("FAILURES (%d runs):" % len(failures))
        for wid, a, f in failures:
            out.append("  %s / %s rep %d: %s %s" % (wid, a, f["rep"], f["status"], f["message"].splitlines()[0] if f["message"] else ""))
    return "\n".join(out) + "\n"


# --- main ------------------------------------------------------------------------------------

def plan_workloads(a):
    names = [w.strip() for w in a.workloads.split(",") if w.strip()]
    unknown = [n for n in names if n not in WORKLOADS and not n.startswith("scaling-t")]
    if unknown:
        sys.exit("compare: unknown workload(s) %s; known: %s" % (",".join(unknown), ",".join(DEFAULT_WORKLOADS + PHASE_WORKLOADS)))
    plan = []
    for n in names:
        if n == "scaling" or n.startswith("scaling-t"):
            counts = [int(n[len("scaling-t"):])] if n.startswith("scaling-t") else [int(x) for x in a.scaling_threads.split(",")]
            for t in counts:
                plan.append({"id": "scaling-t%d" % t, "workload": "scaling", "threads": t})
            continue
        binary, tdefault, _, _ = WORKLOADS[n]
        threads = (a.threads or tdefault) if tdefault else 1
        plan.append({"id": n, "workload": n, "threads": threads})
    for p in plan:
        binary, tdefault, desc, op = WORKLOADS[p["workload"]]
        p["binary"] = os.path.join(a.bin_dir, binary)
        p["description"] = desc
        p["op"] = op
        scale = a.scale * (LEARNING_SCALE.get(p["workload"], 1) if a.target == "learning" else 1)
        p["scale"] = scale
        p["reps"] = a.reps * (LEARNING_REPS.get(p["workload"], 1) if a.target == "learning" else 1)
        p["args"] = ["--scale", repr(scale), "--seed", str(a.seed)]
        if p["workload"] in ("larson", "prodcons", "scaling"):
            p["args"] += ["--threads", str(p["threads"])]
        if not os.access(p["binary"], os.X_OK):
            sys.exit("compare: workload binary missing: %s (run through bazel run //compare:...)" % p["binary"])
    return plan


def choose_allocators(a, table):
    if a.allocators:
        names = []
        for item in a.allocators.split(","):
            item = item.strip()
            if "=" in item:
                name, path = item.split("=", 1)
                table[name] = {"preload": os.path.abspath(path), "env": {}, "expect": os.path.basename(path).split(".so")[0]}
                item = name
            if item not in table:
                sys.exit("compare: unknown allocator %r; known: %s" % (item, ", ".join(table)))
            names.append(item)
    else:
        names = list(TARGETS[a.target])
        if a.learning and "hakmem-LEARNING" not in names:
            names.append("hakmem-LEARNING")
    return names


class Progress:
    def __init__(self, total, quiet):
        self.total, self.done, self.quiet = total, 0, quiet
        self.start = time.monotonic()
        self.tty = sys.stderr.isatty()

    def show(self, rep, reps, wid, alloc, last):
        if self.quiet:
            return
        left = self.total - self.done
        elapsed = time.monotonic() - self.start
        eta = "" if self.done == 0 else " ~%ds left" % (elapsed / self.done * left)
        msg = "[%3d/%d] rep %d/%d  %-11s %-17s %s%s" % (self.done + 1, self.total, rep + 1, reps, wid, alloc, last, eta)
        if self.tty:
            sys.stderr.write("\r\033[K" + msg)
        else:
            sys.stderr.write(msg + "\n")
        sys.stderr.flush()

    def finish(self):
        if not self.quiet and self.tty:
            sys.stderr.write("\r\033[K")
        if not self.quiet:
            sys.stderr.write("compare: %d runs in %.0f s\n" % (self.total, time.monotonic() - self.start))


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    ws = workspace_dir()
    out_root = os.path.abspath(a.out) if a.out else os.path.join(ws, "out", "compare")
    learning_env = {}
    if a.learn_ms is not None:
        learning_env["HAKMEM_EVO_MIN_LEARN_MS"] = str(a.learn_ms)
    if a.evo_window_ops is not None:
        learning_env["HAKMEM_EVO_WINDOW_OPS"] = str(a.evo_window_ops)
    table = allocator_table(a.hakmem_lib or default_hakmem_lib(),
                            a.mimalloc_lib or find_system_lib("libmimalloc.so.2"),
                            a.jemalloc_lib or find_system_lib("libjemalloc.so.2"), learning_env)
    allocs = choose_allocators(a, table)
    plan = plan_workloads(a)
    timeout = a.timeout or 120.0 * max(1.0, a.scale)
    perf_ok = perf_instructions_available()

    now = datetime.datetime.now(datetime.timezone.utc)
    run_id = now.strftime("%Y%m%dT%H%M%SZ")
    run_dir = os.path.join(out_root, run_id)
    n = 1
    while os.path.exists(run_dir):
        n += 1
        run_dir = os.path.join(out_root, "%s-%d" % (run_id, n))
    os.makedirs(run_dir)

    if not a.quiet:
        sys.stderr.write("compare: %s, allocators %s, %d workloads x %d reps, scale %g -> %s\n" % (
            a.target, ",".join(allocs), len(plan), a.reps, a.scale, run_dir))
        if not perf_ok:
            sys.stderr.write("compare: perf cannot count instructions here; instructions reported as unavailable\n")
    runs = []
    prog = Progress(sum(p["reps"] for p in plan) * len(allocs), a.quiet)
    last = ""
    with tempfile.TemporaryDirectory(prefix="hakmem-compare-") as tmp:
        for rep in range(max(p["reps"] for p in plan)):
            for wi, p in enumerate(plan):
                if rep >= p["reps"]:
                    continue
                # Rotate the allocator order per repetition and workload so that
                # none always runs first (cold caches) or last.
                k = (rep + wi) % len(allocs)
                order = allocs[k:] + allocs[:k]
                for pos, name in enumerate(order):
                    prog.show(rep, p["reps"], p["id"], name, last)
                    r = run_once([p["binary"]] + p["args"], table[name], timeout, tmp)
                    r.update({"workload": p["id"], "allocator": name, "rep": rep, "order": pos})
                    runs.append(r)
                    prog.done += 1
                    last = "(last: %s)" % ("%.0f ms" % (r["wall_ns"] / 1e6) if r["status"] == "ok" else r["status"].upper())
        if perf_ok:
            for p in plan:
                for name in allocs:
                    ins = perf_instructions([p["binary"]] + p["args"], table[name], timeout)
                    for r in runs:
                        if r["workload"] == p["id"] and r["allocator"] == name:
                            r["instructions"] = ins
    prog.finish()

    results = aggregate([p["id"] for p in plan], allocs, runs, plan)
    versions = {"glibc": os.confstr("CS_GNU_LIBC_VERSION"), "mimalloc": pkg_version("libmimalloc2.0"),
                "jemalloc": pkg_version("libjemalloc2")}
    doc = {
        "schema": SCHEMA_VERSION,
        "run_id": os.path.basename(run_dir),
        "date": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "git": git_info(ws),
        "machine": machine_info(perf_ok),
        "config": {"target": a.target if not a.allocators else "custom", "scale": a.scale, "reps": a.reps,
                   "seed": a.seed, "timeout_s": timeout, "workloads": [p["id"] for p in plan], "allocators": allocs,
                   "argv": sys.argv[1:] if argv is None else list(argv)},
        "allocators": [{"name": n, "preload": table[n]["preload"], "env": table[n]["env"],
                        "version": versions.get(n.split("-")[0]) if not n.startswith("hakmem") else None}
                       for n in allocs],
        "workloads": [{"id": p["id"], "workload": p["workload"], "threads": p["threads"], "description": p["description"],
                       "op": p["op"], "args": p["args"], "reps": p["reps"]} for p in plan],
        "runs": runs,
        "results": results,
        "headline": headline(results),
    }
    ls = learning_summary(results, allocs, [p["id"] for p in plan], runs)
    if ls:
        doc["learning"] = ls
    errors = schema_check.validate_file(doc, schema_check.default_schema_path())
    if errors:
        sys.stderr.write("compare: INTERNAL: results do not match the schema:\n  " + "\n  ".join(errors[:20]) + "\n")
    with open(os.path.join(run_dir, "results.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    text = text_report(doc)
    with open(os.path.join(run_dir, "report.txt"), "w") as f:
        f.write(text)
    history = os.path.join(out_root, "history.jsonl")
    if not a.no_history:
        with open(history, "a") as f:
            f.write(json.dumps(history_line(doc), separators=(",", ":")) + "\n")
    latest = os.path.join(out_root, "latest")
    try:
        if os.path.islink(latest):
            os.unlink(latest)
        if not os.path.exists(latest):
            os.symlink(os.path.basename(run_dir), latest)
    except OSError:
        pass
    index = None
    if not a.no_report:
        index = render.render(os.path.join(run_dir, "results.json"), history if os.path.exists(history) else None,
                              os.path.join(run_dir, "report"))
    sys.stdout.write("\n" + text + "\n")
    sys.stdout.write("results: %s\n" % os.path.join(run_dir, "results.json"))
    if index:
        sys.stdout.write("report:  %s\n" % index)
    if errors:
        return 3
    return 1 if any(r["status"] != "ok" for r in results) else 0


def history_line(doc):
    return {
        "schema": SCHEMA_VERSION,
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


if __name__ == "__main__":
    sys.exit(main())
