"""execution.py — runs one program under one allocator and measures it.

Owns: the child's environment (LD_PRELOAD + the allocator's variables, the
caller's allocator settings removed), spawning with a timeout, classifying
the outcome (ok, crash, check_failed, timeout, preload_inactive, error),
reading the workload's JSON line and the allocator statistics it wrote, the
fixed-strategy pin check, user commands (--cmd) through cmd_launch, and the
optional perf instruction count.

A run is returned as a dict shaped like the schema's "run" (it goes into
results.json as it is); statistics.py reads those dicts.

Measuring from the outside: wall time from spawn to reap, faults from wait4.
Peak RSS is the workload's own VmHWM (its JSON line), because ru_maxrss of a
child of this Python process counts the Python image from before exec
(~20 MB). A user command prints no line: cmd_launch, a small C program,
forks and runs it, so ru_maxrss there starts from the launcher's ~1 MB.

Called by: runner.py. Python 3 standard library only.
"""

import json
import os
import signal
import subprocess
import tempfile
import threading
import time

from compare import statistics, tables

STRIPPED_PREFIXES = ("HAKMEM_", "MALLOC_", "MIMALLOC_", "JE_MALLOC", "TCMALLOC_", "GLIBC_TUNABLES")
STRIPPED = ("LD_PRELOAD", "MALLOC_CONF", "RUNFILES_DIR", "RUNFILES_MANIFEST_FILE", "PYTHONPATH")


def child_env(alloc, preload_var="LD_PRELOAD"):
    """The environment of a run: ours without allocator settings, plus the
    allocator's. preload_var: where the library goes (cmd_launch takes it in
    HAK_COMPARE_PRELOAD and sets LD_PRELOAD only for the command)."""
    env = {k: v for k, v in os.environ.items() if not (k in STRIPPED or k.startswith(STRIPPED_PREFIXES))}
    if alloc.preload:
        env[preload_var] = alloc.preload
    env.update(alloc.env)
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


def site_name(addr, helpers, stats_name):
    """A site's name: the workload's WL_SITE helper whose body holds the
    address (a call site is a return address inside the helper: the nearest
    helper start below it), else the allocator's own name for it ("name" in
    hakmem's site JSON, e.g. "parse_block+0x3c (libfoo.so)"), else the address."""
    a = int(addr, 16)
    return next((n for start, n in helpers if start <= a < start + 512), None) or stats_name or addr


def read_learn(path):
    """The learning sites from the stats file a workload wrote (HAK_COMPARE_STATS_OUT), or None.

    Keeps, per site with a learning state, its address, its name (site_name),
    its frames when hakmem gives them, allocations and the "learn" object of
    hakmem's stats JSON (state, strategy, ratings, history...)."""
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError):
        return None
    helpers = sorted(((int(n["addr"], 16), n["name"]) for n in doc.get("site_names", [])), reverse=True)
    sites = []
    for st in doc.get("stats", {}).get("sites", []):
        if not st.get("learn"):
            continue
        site = {"site": st["site"], "name": site_name(st["site"], helpers, st.get("name")),
                "allocs": st.get("allocs", 0), "learn": st["learn"]}
        if isinstance(st.get("frames"), list):
            site["frames"] = [str(x) for x in st["frames"]]
        sites.append(site)
    sites.sort(key=lambda x: x["name"])
    return {"mode": doc.get("stats", {}).get("mode", ""), "sites": sites}


def empty_run():
    return {"status": "ok", "exit_code": None, "signal": None, "wall_ns": None, "minflt": None,
            "majflt": None, "maxrss_kb": None, "ru_maxrss_kb": None, "instructions": None, "inside": None, "message": "",
            "learn": None}


def spawn(argv, env, timeout, out_path, err_path, cwd=None):
    """Runs argv (own session, so a timeout kills its whole process group);
    returns (wait status, rusage, wall ns, timed out)."""
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        timed_out = threading.Event()
        reaped = threading.Event()
        lock = threading.Lock()
        actions = [(os.POSIX_SPAWN_DUP2, out.fileno(), 1), (os.POSIX_SPAWN_DUP2, err.fileno(), 2)]
        old = os.getcwd()
        if cwd:
            os.chdir(cwd)  # posix_spawn has no cwd action before Python 3.13
        try:
            t0 = time.perf_counter_ns()
            pid = os.posix_spawn(argv[0], argv, env, file_actions=actions, setsid=True)
        finally:
            if cwd:
                os.chdir(old)

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
    return status, ru, t1 - t0, timed_out.is_set()


def signal_name(sig):
    return signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)


def classify_exit(res, status, timed_out, timeout, stderr_tail):
    """Fills status/signal/exit_code/message from a wait status; True if the process exited 0."""
    if os.WIFSIGNALED(status):
        res["signal"] = signal_name(os.WTERMSIG(status))
        if timed_out:
            res["status"] = "timeout"
            res["message"] = "killed after %.0f s" % timeout
        else:
            res["status"] = "crash"
            res["message"] = "killed by " + res["signal"] + (": " + stderr_tail if stderr_tail else "")
        return False
    code = os.WEXITSTATUS(status)
    res["exit_code"] = code
    if code == tables.EXIT_CHECK:
        res["status"] = "check_failed"
        res["message"] = stderr_tail or "pattern check failed"
    elif code != 0:
        res["status"] = "error"
        res["message"] = ("exit %d (malloc returned NULL)" % code) if code == tables.EXIT_OOM else (
            "exit %d: %s" % (code, stderr_tail))
    return code == 0


def inside_line(out_path):
    """The last JSON object line the workload printed, or None."""
    inside = None
    with open(out_path, "r", errors="replace") as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                try:
                    inside = json.loads(line)
                except ValueError:
                    pass
    return inside


def check_pinned(res, strategy):
    """A fixed strategy: every learning site must have run FROZEN on it."""
    if res["learn"] is None:
        res["status"] = "error"
        res["message"] = "no allocator statistics (HAK_COMPARE_STATS_OUT): cannot confirm strategy %s" % strategy
        return
    wrong = [(x["name"], x["learn"].get("state"), x["learn"].get("strategy")) for x in res["learn"]["sites"]
             if x["learn"].get("strategy") != strategy or x["learn"].get("state") != "FROZEN"]
    if wrong:
        res["status"] = "error"
        res["message"] = "strategy not pinned: expected FROZEN on %s, sites had %s" % (
            strategy, ", ".join("%s %s on %s" % w for w in wrong))


def preload_missing(res, alloc):
    """True (and res marked failed) when the allocator's library is not there."""
    if alloc.preload and not os.path.exists(alloc.preload):
        res["status"] = "error"
        res["message"] = "preload library not found: " + alloc.preload
        return True
    return False


def scratch(tmpdir, prefix, result):
    """Paths of a run's stdout, stderr and result file in tmpdir, without a
    result file left by the previous run."""
    paths = [os.path.join(tmpdir, prefix + n) for n in ("stdout", "stderr", result)]
    if os.path.exists(paths[2]):
        os.unlink(paths[2])
    return paths


def run_once(argv, alloc, timeout, tmpdir):
    """Runs one workload process; returns the run dict (status 'ok' or a failure)."""
    out_path, err_path, stats_path = scratch(tmpdir, "", "stats.json")
    res = empty_run()
    if preload_missing(res, alloc):
        return res
    env = child_env(alloc)
    # The workload writes the allocator's statistics there at exit (wl_report
    # calls hak_stats_json through dlsym: only under hakmem).
    env["HAK_COMPARE_STATS_OUT"] = stats_path
    status, ru, wall, timed_out = spawn(argv, env, timeout, out_path, err_path)
    res["wall_ns"] = wall
    res["minflt"] = ru.ru_minflt
    res["majflt"] = ru.ru_majflt
    res["ru_maxrss_kb"] = ru.ru_maxrss  # an upper bound only (see the module comment)
    if not classify_exit(res, status, timed_out, timeout, tail(err_path)):
        return res
    inside = inside_line(out_path)
    if inside is None:
        res["status"] = "error"
        res["message"] = "no JSON result line on stdout"
        return res
    res["inside"] = inside
    res["maxrss_kb"] = inside.get("peak_rss_kb")
    if alloc.expect not in os.path.basename(inside.get("malloc_from", "")):
        res["status"] = "preload_inactive"
        res["message"] = "malloc came from %s, expected %s" % (inside.get("malloc_from"), alloc.expect)
        return res
    res["learn"] = read_learn(stats_path)
    if alloc.strategy:
        check_pinned(res, alloc.strategy)
    return res


def run_launches(argv, alloc, timeout, tmpdir, n):
    """A launch workload: n processes; the run keeps the medians per process
    (wall time, faults, peak RSS) and the first failure, if any."""
    runs = []
    for _ in range(n):
        r = run_once(argv, alloc, timeout, tmpdir)
        if r["status"] != "ok":
            r["launches"] = len(runs) + 1
            return r
        runs.append(r)
    res = dict(runs[-1])
    for key in ("wall_ns", "minflt", "majflt", "maxrss_kb", "ru_maxrss_kb"):
        res[key] = int(statistics.median([r[key] for r in runs]))
    res["launches"] = n
    return res


def run_command(launcher, command, alloc, timeout, tmpdir, cwd=None):
    """A user command (--cmd): /bin/sh -c COMMAND under the allocator, through
    cmd_launch (see the module comment). Its run dict has no inside line; a
    non-zero exit is an error with the exit status and the stderr tail."""
    out_path, err_path, result_path = scratch(tmpdir, "cmd-", "result.json")
    res = empty_run()
    del res["learn"]
    if preload_missing(res, alloc):
        return res
    env = child_env(alloc, preload_var="HAK_COMPARE_PRELOAD")
    status, ru, wall, timed_out = spawn([launcher, result_path, command], env, timeout, out_path, err_path, cwd=cwd)
    try:
        with open(result_path) as f:
            inner = json.load(f)
    except (OSError, ValueError):
        inner = None
    if inner is None or timed_out:
        res["wall_ns"] = wall
        res["minflt"], res["majflt"] = ru.ru_minflt, ru.ru_majflt
        if timed_out:
            res["status"], res["message"] = "timeout", "killed after %.0f s" % timeout
        else:
            res["status"] = "error"
            res["message"] = "cmd_launch wrote no result (wait status %d): %s" % (status, tail(err_path))
        return res
    res["wall_ns"] = inner["wall_ns"]
    res["minflt"], res["majflt"] = inner["minflt"], inner["majflt"]
    res["maxrss_kb"] = res["ru_maxrss_kb"] = inner["maxrss_kb"]
    stderr_tail = tail(err_path, 400)
    if inner["signal"]:
        res["signal"] = signal_name(inner["signal"])
        res["status"] = "crash"
        res["message"] = "killed by %s%s" % (res["signal"], ": " + stderr_tail if stderr_tail else "")
    else:
        res["exit_code"] = inner["exit_code"]
        if inner["exit_code"] != 0:
            res["status"] = "error"
            res["message"] = "exit status %d%s" % (inner["exit_code"], ": " + stderr_tail if stderr_tail else "")
    return res


def perf_instructions(argv, alloc, timeout):
    """One extra run under perf stat (only when perf counts on this machine)."""
    fd, path = tempfile.mkstemp(prefix="perf-", suffix=".csv")
    os.close(fd)
    env = child_env(tables.Allocator("none", None, {}, ""))
    cmd = ["perf", "stat", "-x,", "-e", "instructions:u", "-o", path, "--", "env"]
    if alloc.preload:
        cmd.append("LD_PRELOAD=" + alloc.preload)
    cmd += ["%s=%s" % kv for kv in alloc.env.items()] + argv
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
