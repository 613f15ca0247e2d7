"""runner.py — runs the comparison workloads (and --cmd commands) under each
allocator, writes JSON results, a text report and the HTML report (through
//dashboard). The entry point of every //compare:* target.

Owns: the command line, the run plan (allocators interleaved across
repetitions and rotated), the progress line and the output folder layout:

  <workspace>/out/compare/<run_id>/results.json   one run, schema compare/results.schema.json
  <workspace>/out/compare/<run_id>/report.txt     the plain tables printed at the end
  <workspace>/out/compare/<run_id>/report/        the HTML report (index.html + charts/)
  <workspace>/out/compare/history.jsonl           one summary line per run, appended
  <workspace>/out/compare/latest                  symlink to the newest run folder

The rest lives beside it: tables.py (allocators, workloads, targets),
execution.py (one run), statistics.py (results from runs), learning.py (the
LEARNING verdict), report.py (text), environment.py (git, machine).

Called by: the //compare:* targets (bazel run, through run_py.sh), the smoke
tests. Python 3 standard library only.
"""

import argparse
import datetime
import json
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))  # runfiles/<ws>/compare (not resolved)
sys.path.insert(0, os.path.dirname(HERE))

from compare import environment, execution, learning, report, schema_check, statistics, strategies, tables  # noqa: E402
from dashboard import render  # noqa: E402


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="compare",
        description="Run hakmem's comparison workloads (and your own commands) under several allocators "
        "(LD_PRELOAD) and write JSON results plus an HTML report.",
    )
    p.add_argument("--target", default="vs_mimalloc", choices=sorted(tables.TARGETS), help="preset allocator set (default %(default)s)")
    p.add_argument("--allocators", help="comma list overriding the target's set, e.g. glibc,mimalloc,hakmem-FAST. "
                   "Known: glibc, %s, hakmem-{%s}, %s, %s, %s; NAME=/path/lib.so adds a custom one" % (
                       ", ".join(p.name for p in tables.PEERS), ",".join(tables.HAKMEM_MODES), tables.NOWRAP, tables.STATIC,
                       ",".join(tables.FIXED_BY_NAME)))
    p.add_argument("--learning", action="store_true", help="also run hakmem-LEARNING (the 'all' target always does)")
    p.add_argument("--workloads", default=None, help="comma list, or 'none' (only --cmd commands); default: the target's: "
                   "%s, or for 'learning' %s; also known: %s" % (
                       ",".join(tables.DEFAULT_WORKLOADS), ",".join(tables.TARGET_WORKLOADS["learning"]),
                       ",".join(tables.PHASE_WORKLOADS)))
    p.add_argument("--cmd", action="append", default=[], metavar="NAME=COMMAND",
                   help="also run this shell command (/bin/sh -c COMMAND, in the directory bazel run was started from) "
                        "under every allocator, interleaved with the workloads; repeatable. Reports wall time, peak RSS "
                        "and page faults under NAME")
    p.add_argument("--learn-ms", type=int, default=None,
                   help="hakmem-LEARNING's HAKMEM_EVO_MIN_LEARN_MS (default: the allocator's 10 s; target 'learning': "
                        "25 x scale, so that a site can freeze early in a run of 0.1-2 s)")
    p.add_argument("--evo-window-ops", type=int, default=None, help="hakmem-LEARNING's HAKMEM_EVO_WINDOW_OPS (default: the allocator's)")
    p.add_argument("--reps", type=int, default=None, help="repetitions per workload and allocator (default 5; target 'learning': 7)")
    p.add_argument("--scale", type=float, default=None,
                   help="work multiplier passed to every workload (default 1; target 'learning': 2, so that "
                        "exploration is a small part of each run)")
    p.add_argument("--threads", type=int, default=None,
                   help="threads for larson, prodcons and cxx-sized (default 2), and mixed-random's second run (default 2)")
    p.add_argument("--scaling-threads", default="1,2,4,8", help="thread counts of the scaling workload (default %(default)s)")
    p.add_argument("--seed", type=int, default=42, help="seed passed to every workload (default %(default)s)")
    p.add_argument("--timeout", type=float, default=None, help="seconds before one run counts as a timeout (default 120 x max(1, scale))")
    p.add_argument("--out", help="output root (default <workspace>/out/compare)")
    p.add_argument("--bin-dir", default=HERE, help="where the wl_* binaries and cmd_launch are (default: next to this script)")
    p.add_argument("--hakmem-lib", default=None, help="libhakmem.so to preload (default: //hakmem:libhakmem.so from runfiles)")
    for peer in tables.PEERS:
        p.add_argument("--%s-lib" % peer.name, default=None, help="default: Debian's %s" % peer.soname)
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
        a.workloads = ",".join(tables.TARGET_WORKLOADS.get(a.target, tables.DEFAULT_WORKLOADS))
    if a.learn_ms is None and a.target == "learning":
        a.learn_ms = max(1, int(round(25 * a.scale)))
    a.commands = []
    for c in a.cmd:
        name, sep, command = c.partition("=")
        if not sep or not name.strip() or not command.strip():
            p.error("--cmd wants NAME=COMMAND, got %r" % c)
        if any(n == name.strip() for n, _ in a.commands):
            p.error("--cmd: the name %r is used twice" % name.strip())
        a.commands.append((name.strip(), command))
    if a.workloads.strip() == "none" and not a.commands:
        p.error("--workloads none needs at least one --cmd")
    return a


def default_hakmem_lib():
    return os.path.join(os.path.dirname(HERE), "hakmem", "libhakmem.so")  # runfiles/<workspace>/hakmem


def choose_allocators(a, table):
    """The run's allocators (the report's columns); adds custom NAME=path ones to table."""
    if not a.allocators:
        names = list(tables.TARGETS[a.target])
        if a.learning and "hakmem-LEARNING" not in names:
            names.append("hakmem-LEARNING")
        return names
    names = []
    for item in a.allocators.split(","):
        item = item.strip()
        if "=" in item:
            name, path = item.split("=", 1)
            table[name] = tables.custom_allocator(name, path)
            item = name
        if item not in table:
            sys.exit("compare: unknown allocator %r; known: %s" % (item, ", ".join(table)))
        names.append(item)
    return names


def workload_allocators(w, allocs, target_extra=(), table=None):
    """A workload's allocators: the run's, plus its extra ones whose base
    runs, plus the target's extra ones for it (tables.TARGET_EXTRA) whose
    library is installed."""
    extra = [e for e in w.extra_allocators if tables.EXTRA_BASE.get(e) in allocs and e not in allocs]
    extra += [e for e in target_extra if e not in allocs and e not in extra and table and e in table
              and (table[e].preload is None or os.path.exists(table[e].preload))]
    return list(allocs) + extra


def plan_workloads(a, allocs, table=None):
    names = [w.strip() for w in a.workloads.split(",") if w.strip() and w.strip() != "none"]
    scaling = [int(x) for x in a.scaling_threads.split(",")]
    plan = []
    extras = tables.TARGET_EXTRA.get(a.target, {}) if not a.allocators else {}
    for n in names:
        try:
            w, ids = tables.workload_ids(n, scaling, a.threads)
        except KeyError:
            sys.exit("compare: unknown workload %s; known: %s" % (
                n, ",".join(tables.DEFAULT_WORKLOADS + tables.PHASE_WORKLOADS)))
        learning_target = a.target == "learning"
        scale = a.scale * (tables.LEARNING_SCALE.get(w.name, 1) if learning_target else 1)
        for wid, threads in ids:
            args = ["--scale", repr(scale), "--seed", str(a.seed)]
            if w.threads:
                args += ["--threads", str(threads)]
            item = tables.PlanItem(
                id=wid, workload=w.name, threads=threads, binary=os.path.join(a.bin_dir, w.binary),
                description=w.description, op=w.op, kind=w.kind, scale=scale,
                reps=a.reps * (tables.LEARNING_REPS.get(w.name, 1) if learning_target else 1), args=args,
                allocators=workload_allocators(w, allocs, extras.get(w.name, ()), table),
                launches=tables.launches_at(w, scale))
            if not os.access(item.binary, os.X_OK):
                sys.exit("compare: workload binary missing: %s (run through bazel run //compare:...)" % item.binary)
            plan.append(item)
    return plan


def plan_commands(a, allocs):
    return [tables.PlanItem(id=name, workload=name, threads=1, binary=None, description=command, op="the whole command",
                            kind="command", scale=1.0, reps=a.reps, args=[], allocators=list(allocs), command=command)
            for name, command in a.commands]


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
        msg = "[%3d/%d] rep %d/%d  %-15s %-22s %s%s" % (self.done + 1, self.total, rep + 1, reps, wid, alloc, last, eta)
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


def run_item(p, alloc, timeout, tmp, launcher, cwd):
    if p.is_command:
        return execution.run_command(launcher, p.command, alloc, timeout, tmp, cwd)
    if p.launches > 1:
        return execution.run_launches(p.argv(), alloc, timeout, tmp, p.launches)
    return execution.run_once(p.argv(), alloc, timeout, tmp)


def run_plan(plan, table, timeout, quiet, launcher, cwd):
    """Every item x its allocators x its repetitions, interleaved: rep 1 of
    everything, then rep 2, ...; the allocator order rotates per repetition and
    item so that none always runs first (cold caches) or last."""
    runs = []
    prog = Progress(sum(p.reps * len(p.allocators) for p in plan), quiet)
    last = ""
    with tempfile.TemporaryDirectory(prefix="hakmem-compare-") as tmp:
        for rep in range(max((p.reps for p in plan), default=0)):
            for i, p in enumerate(plan):
                if rep >= p.reps:
                    continue
                k = (rep + i) % len(p.allocators)
                for pos, name in enumerate(p.allocators[k:] + p.allocators[:k]):
                    prog.show(rep, p.reps, p.id, name, last)
                    r = run_item(p, table[name], timeout, tmp, launcher, cwd)
                    r.update({"workload": p.id, "allocator": name, "rep": rep, "order": pos})
                    runs.append(r)
                    prog.done += 1
                    last = "(last: %s)" % ("%.0f ms" % (r["wall_ns"] / 1e6) if r["status"] == "ok" else r["status"].upper())
    prog.finish()
    return runs


def add_instructions(plan, table, runs, timeout):
    """One perf run per workload cell; its count goes on every run of the cell."""
    for p in plan:
        if p.is_command:
            continue
        for name in p.allocators:
            ins = execution.perf_instructions(p.argv(), table[name], timeout)
            for r in runs:
                if r["workload"] == p.id and r["allocator"] == name:
                    r["instructions"] = ins


def make_run_dir(out_root, now):
    run_id = now.strftime("%Y%m%dT%H%M%SZ")
    run_dir = os.path.join(out_root, run_id)
    n = 1
    while os.path.exists(run_dir):
        n += 1
        run_dir = os.path.join(out_root, "%s-%d" % (run_id, n))
    os.makedirs(run_dir)
    return run_dir


def allocator_record(alloc):
    version = None
    if alloc.name == "glibc":
        version = environment.glibc_version()
    elif alloc.package:
        version = environment.pkg_version(alloc.package)
    return {"name": alloc.name, "preload": alloc.preload, "env": alloc.env, "version": version}


def build_doc(a, argv, run_dir, now, ws, perf_ok, timeout, allocs, table, workloads, commands, runs):
    ref = statistics.reference(allocs)
    wl_runs = statistics.vote_checksums([r for r in runs if r["workload"] in {p.id for p in workloads}])
    cmd_runs = [r for r in runs if r["workload"] in {p.id for p in commands}]
    results = statistics.aggregate([(p.id, n) for p in workloads for n in p.allocators], wl_runs, ref)
    used = list(allocs) + [n for p in workloads for n in p.allocators if n not in allocs]
    used = [n for i, n in enumerate(used) if n not in used[:i]]
    doc = {
        "schema": tables.SCHEMA_VERSION,
        "run_id": os.path.basename(run_dir),
        "date": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "git": environment.git_info(ws),
        "machine": environment.machine_info(perf_ok),
        "config": {"target": a.target if not a.allocators else "custom", "scale": a.scale, "reps": a.reps,
                   "seed": a.seed, "timeout_s": timeout, "workloads": [p.id for p in workloads], "allocators": allocs,
                   "reference": ref, "argv": list(argv)},
        "allocators": [allocator_record(table[n]) for n in used],
        "workloads": [{"id": p.id, "workload": p.workload, "threads": p.threads, "description": p.description,
                       "op": p.op, "args": p.args, "reps": p.reps, "kind": p.kind, "launches": p.launches,
                       "extra_allocators": [n for n in p.allocators if n not in allocs]} for p in workloads],
        "runs": wl_runs,
        "results": results,
        "geomean": statistics.geomean(results, [(p.id, p.kind) for p in workloads], allocs, ref),
        "pairs": statistics.pairs(results, wl_runs, [(p.id, n, tables.EXTRA_BASE[n]) for p in workloads
                                                     for n in p.allocators if n not in allocs and n in tables.EXTRA_BASE]),
        "headline": statistics.headline(results),
    }
    if commands:
        doc["commands"] = [{"name": p.id, "command": p.command, "reps": p.reps} for p in commands]
        doc["command_runs"] = cmd_runs
        doc["command_results"] = statistics.aggregate_commands([(p.id, n) for p in commands for n in p.allocators],
                                                               cmd_runs, ref)
    ls = learning.doc_summary(doc)
    if ls:
        doc["learning"] = ls
    if any(n.startswith("hakmem-") for n in used):
        doc["strategies"] = strategies.load()  # the dashboard names the strategies' columns from it
    return doc


def write_outputs(doc, run_dir, out_root, history_on, report_on):
    """results.json, report.txt, the history line, the latest link, the HTML
    report; returns (text report, index.html path or None)."""
    with open(os.path.join(run_dir, "results.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    text = report.text_report(doc)
    with open(os.path.join(run_dir, "report.txt"), "w") as f:
        f.write(text)
    history = os.path.join(out_root, "history.jsonl")
    if history_on and doc["results"]:
        with open(history, "a") as f:
            f.write(json.dumps(report.history_line(doc), separators=(",", ":")) + "\n")
    latest = os.path.join(out_root, "latest")
    try:
        if os.path.islink(latest):
            os.unlink(latest)
        if not os.path.exists(latest):
            os.symlink(os.path.basename(run_dir), latest)
    except OSError:
        pass
    index = None
    if report_on:
        index = render.render(os.path.join(run_dir, "results.json"), history if os.path.exists(history) else None,
                              os.path.join(run_dir, "report"))
    return text, index


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    a = parse_args(argv)
    ws = environment.workspace_dir()
    out_root = os.path.abspath(a.out) if a.out else os.path.join(ws, "out", "compare")
    learning_env = {}
    if a.learn_ms is not None:
        learning_env["HAKMEM_EVO_MIN_LEARN_MS"] = str(a.learn_ms)
    if a.evo_window_ops is not None:
        learning_env["HAKMEM_EVO_WINDOW_OPS"] = str(a.evo_window_ops)
    table = tables.allocator_table(a.hakmem_lib or default_hakmem_lib(),
                                   {p.name: getattr(a, "%s_lib" % p.name) for p in tables.PEERS}, learning_env)
    allocs = choose_allocators(a, table)
    workloads = plan_workloads(a, allocs, table)
    commands = plan_commands(a, allocs)
    clash = sorted({p.id for p in workloads} & {p.id for p in commands})
    if clash:
        sys.exit("compare: --cmd name(s) %s are workload ids; choose other names" % ",".join(clash))
    launcher = os.path.join(a.bin_dir, "cmd_launch")
    if commands and not os.access(launcher, os.X_OK):
        sys.exit("compare: %s missing (run through bazel run //compare:...)" % launcher)
    timeout = a.timeout or 120.0 * max(1.0, a.scale)
    perf_ok = environment.perf_instructions_available()
    now = datetime.datetime.now(datetime.timezone.utc)
    run_dir = make_run_dir(out_root, now)
    if not a.quiet:
        sys.stderr.write("compare: %s, allocators %s, %d workloads + %d commands x %d reps, scale %g -> %s\n" % (
            a.target, ",".join(allocs), len(workloads), len(commands), a.reps, a.scale, run_dir))
        if not perf_ok:
            sys.stderr.write("compare: perf cannot count instructions here; instructions reported as unavailable\n")
    cwd = os.environ.get("BUILD_WORKING_DIRECTORY") or os.getcwd()
    runs = run_plan(workloads + commands, table, timeout, a.quiet, launcher, cwd)
    if perf_ok:
        add_instructions(workloads, table, runs, timeout)
    doc = build_doc(a, argv, run_dir, now, ws, perf_ok, timeout, allocs, table, workloads, commands, runs)
    errors = schema_check.validate_file(doc, schema_check.default_schema_path())
    if errors:
        sys.stderr.write("compare: INTERNAL: results do not match the schema:\n  " + "\n  ".join(errors[:20]) + "\n")
    text, index = write_outputs(doc, run_dir, out_root, not a.no_history, not a.no_report)
    sys.stdout.write("\n" + text + "\n")
    sys.stdout.write("results: %s\n" % os.path.join(run_dir, "results.json"))
    if index:
        sys.stdout.write("report:  %s\n" % index)
    if errors:
        return 3
    cells = doc["results"] + doc.get("command_results", [])
    return 1 if any(r["status"] != "ok" for r in cells) else 0


if __name__ == "__main__":
    sys.exit(main())
