"""tables.py — what the suite knows before it runs anything: the allocators,
the workloads, the fixed per-site strategies and the targets (which
allocators and workloads each //compare:* target compares).

Owns: the Allocator, Workload and FixedStrategy records and the tables of
them. Pure data and small lookups: nothing here starts a process; the one
file read is hakmem's generated strategy table (strategies.py), from which
the fixed strategies come (the library paths are only joined, execution.py
checks them).

Called by: runner.py (plan), execution.py (Allocator), learning.py (the fixed
strategies' thresholds), the tests.
"""

import dataclasses
import os
from typing import Dict, List, Optional, Tuple

from compare import strategies

SCHEMA_VERSION = "hakmem-compare/1"
SYSTEM_LIBDIRS = ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib"]

EXIT_CHECK = 2  # compare/workloads/common.h WL_EXIT_CHECK
EXIT_OOM = 3  # WL_EXIT_OOM


# --- allocators ---------------------------------------------------------------------

@dataclasses.dataclass
class Allocator:
    """One column of the comparison: a library to LD_PRELOAD (None: glibc, no
    preload) and the environment it runs with."""
    name: str
    preload: Optional[str]
    env: Dict[str, str]
    expect: str  # a substring of the file that must provide malloc in the workload (proves the preload took)
    strategy: Optional[str] = None  # fixed strategies: the strategy every learning site must be FROZEN on
    package: Optional[str] = None  # Debian package whose version the report shows


@dataclasses.dataclass(frozen=True)
class Peer:
    """Another allocator compared with hakmem, from a Debian package."""
    name: str
    soname: str
    expect: str
    package: str


# The allocators hakmem is compared with. The report's ratios use the first
# of them that ran (else glibc): REFERENCE_ORDER.
PEERS = [
    Peer("mimalloc", "libmimalloc.so.2", "libmimalloc", "libmimalloc2.0"),
    Peer("jemalloc", "libjemalloc.so.2", "libjemalloc", "libjemalloc2"),
    # gperftools' tcmalloc without the heap profiler (libtcmalloc-minimal4)
    Peer("tcmalloc", "libtcmalloc_minimal.so.4", "libtcmalloc", "libtcmalloc-minimal4"),
]
REFERENCE_ORDER = [p.name for p in PEERS] + ["glibc"]

HAKMEM_MODES = ["MINIMAL", "FAST", "BALANCED", "LEARNING", "RESEARCH"]


@dataclasses.dataclass(frozen=True)
class FixedStrategy:
    """hakmem with every learning site frozen on one row of the strategy
    table (hakmem/policy/strategy.h, through strategies.py)."""
    suffix: str  # allocator name is "hakmem-" + suffix: the row's enum id (T512K)
    strategy: str  # the row's name, as the stats JSON shows it (512k)
    threshold: int  # the row's large threshold in bytes
    initial_pins: bool  # HAKMEM_EVO_INITIAL=<threshold> reaches this row (else it needs HAKMEM_EVO_STRATEGY)

    @property
    def initial(self):
        """HAKMEM_EVO_INITIAL's value for the row ("512K")."""
        return strategies.size_label(self.threshold)


def fixed_env(f):
    """The environment that pins every site of a run on f: the one place that
    says how. HAKMEM_EVO_INITIAL pins the row its threshold is nearest in the
    learner's set, which is f itself unless another row of the set shares
    f's threshold (rows that differ only in their free policy);
    HAKMEM_EVO_STRATEGY names any row."""
    if f.initial_pins:
        return {"HAKMEM_EVO": "frozen", "HAKMEM_EVO_INITIAL": f.initial}
    return {"HAKMEM_EVO": "frozen", "HAKMEM_EVO_STRATEGY": f.strategy}


# The fixed strategies are the rows of the candidate set the default learner
# (UCB1) explores, in table order.
FIXED_SET = "ucb1"
FIXED_STRATEGIES = [FixedStrategy(r["id"], r["name"], r["large_threshold"], FIXED_SET in r["initial_pins"])
                    for r in strategies.in_set(FIXED_SET)]
FIXED_BY_NAME = {"hakmem-" + f.suffix: f for f in FIXED_STRATEGIES}
# The fixed strategy the static route (HAKMEM_EVO=off) behaves like: the
# set's row nearest HAKMEM_LARGE_THRESHOLD's default.
STATIC_ROW = strategies.load()["sets"][FIXED_SET]["static_row"]
LEARNING_GOAL = 1.05  # LEARNING within 5% of the best fixed strategy in hindsight

# The default mode (BALANCED, which learns) and its static twin: BALANCED
# with learning off, every site on the static route.
DEFAULT = "hakmem-BALANCED"
STATIC = "hakmem-BALANCED-static"
# The default mode's goals per workload (learning.default_row):
DEFAULT_GOALS = {
    "static_max": 1.00,  # (a) at most the static default's ns/op (within noise), everywhere
    "gain_min": 0.10,  # (b) >= 10% faster than static where static is beyond noise slower than the best fixed
    "best_max": 1.05,  # (c) within 5% of the best fixed strategy in hindsight
    "rss_max": 1.10,  # (d) peak RSS at most 1.10x the best fixed strategy's
}
# bigswap: the default against glibc and tcmalloc (time ratio, RSS ratio).
BIGSWAP_GOAL = {"time_max": 0.75, "rss_max": 1.10, "peers": ["glibc", "tcmalloc"]}

# BALANCED with hakmem's malloc-wrapper detection off: every block allocated
# through one wrapper function is then one site (the wrapper's call to malloc).
NOWRAP = "hakmem-BALANCED-nowrap"


def find_system_lib(name):
    for d in SYSTEM_LIBDIRS:
        path = os.path.join(d, name)
        if os.path.exists(path):
            return path
    return os.path.join(SYSTEM_LIBDIRS[0], name)


def allocator_table(hakmem_lib, peer_libs=None, learning_env=None):
    """Every known allocator by name. peer_libs: {peer name: library path}
    overriding the Debian default; learning_env: extra environment of
    hakmem-LEARNING."""
    peer_libs = peer_libs or {}
    table = {"glibc": Allocator("glibc", None, {}, "libc.so")}
    for p in PEERS:
        table[p.name] = Allocator(p.name, peer_libs.get(p.name) or find_system_lib(p.soname), {}, p.expect,
                                  package=p.package)
    for mode in HAKMEM_MODES:
        env = {"HAKMEM_MODE": mode}
        if mode == "LEARNING":
            env.update(learning_env or {})
        table["hakmem-" + mode] = Allocator("hakmem-" + mode, hakmem_lib, env, "libhakmem")
    table[NOWRAP] = Allocator(NOWRAP, hakmem_lib, {"HAKMEM_MODE": "BALANCED", "HAKMEM_SITE_WRAPPERS": "0"}, "libhakmem")
    table[STATIC] = Allocator(STATIC, hakmem_lib, {"HAKMEM_MODE": "BALANCED", "HAKMEM_EVO": "off"}, "libhakmem")
    table["hakmem-BALANCED-free"] = Allocator("hakmem-BALANCED-free", hakmem_lib, {"HAKMEM_MODE": "BALANCED", "HAKMEM_EVO_FREE_ARMS": "1"}, "libhakmem")  # the free-policy arms on, beside the default
    for name, f in FIXED_BY_NAME.items():
        table[name] = Allocator(name, hakmem_lib, fixed_env(f), "libhakmem", strategy=f.strategy)
    return table


def custom_allocator(name, path):
    """NAME=/path/lib.so from --allocators."""
    return Allocator(name, os.path.abspath(path), {}, os.path.basename(path).split(".so")[0])


# Which allocators each target compares. glibc is always there (the baseline
# every ratio can fall back to) except in 'learning', which compares hakmem
# with itself.
TARGETS = {
    "vs_mimalloc": ["glibc", "mimalloc", "hakmem-MINIMAL", "hakmem-BALANCED"],
    "vs_jemalloc": ["glibc", "jemalloc", "hakmem-MINIMAL", "hakmem-BALANCED"],
    "vs_tcmalloc": ["glibc", "tcmalloc", "hakmem-MINIMAL", "hakmem-BALANCED"],
    "vs_glibc": ["glibc", "hakmem-MINIMAL", "hakmem-BALANCED"],
    "all": ["glibc", "mimalloc", "jemalloc", "tcmalloc", "hakmem-MINIMAL", "hakmem-BALANCED", "hakmem-LEARNING"],
    # the default mode (BALANCED, learning) against its static twin and every
    # fixed strategy; LEARNING (explores for ever) beside them
    "learning": list(FIXED_BY_NAME) + [STATIC, DEFAULT, "hakmem-LEARNING"],
}
# Allocators a target adds to single workloads only (a workload's extra
# allocators, beside the target's): the learning target's bigswap line
# compares the default with glibc and tcmalloc.
TARGET_EXTRA = {"learning": {"bigswap": tuple(BIGSWAP_GOAL["peers"])}}


# --- workloads ----------------------------------------------------------------------

# Kinds of workload, for the geometric mean: only "general" workloads (shapes
# any program has, not built around one of hakmem's features) count in it.
GENERAL = "general"
SCENARIO = "scenario"  # hakmem's design scenarios (large buffers, the VM block): where its caches are meant to win
MEMORY = "memory"  # judged on resident memory more than on time
LARGE = "large"  # multi-MiB blocks
LEARNING = "learning"  # shapes made for the learning engine (sites that want different strategies)
STARTUP = "startup"  # one process start to exit


@dataclasses.dataclass(frozen=True)
class Workload:
    name: str
    binary: str
    description: str
    op: str  # what one operation is
    kind: str
    threads: Optional[Tuple[int, ...]] = None  # None: no --threads; else the default thread count(s)
    expand_threads: bool = False  # one plan entry per thread count, id <name>-t<N>
    launches: int = 0  # > 0: run this many processes per repetition, ns/op = wall time per process (base at scale 1)
    extra_allocators: Tuple[str, ...] = ()  # also run under these, beside their base allocator (below)


WORKLOADS = [
    Workload("json", "wl_json", "JSON: ~64 KiB buffers, window of 16", "malloc+fill+check+free of one buffer", SCENARIO),
    Workload("mir", "wl_mir", "MIR: ~256 KiB blocks, window of 8", "malloc+fill+check+free of one block", SCENARIO),
    Workload("vm", "wl_vm", "VM: 2 MiB buffer, one byte per 4 KiB page",
             "one iteration (malloc, 512 page writes, verify, free)", SCENARIO),
    Workload("mixed", "wl_mixed", "MIXED: 70% small, 20% JSON, 8% MIR, 2% VM sizes", "malloc+fill+check+free of one block",
             SCENARIO),
    Workload("small", "wl_small", "small-object churn, 8-1024 B", "one free + one malloc", GENERAL),
    Workload("larson", "wl_larson", "larson-style server, threads free each other's objects", "one free + one malloc",
             GENERAL, threads=(2,)),
    Workload("prodcons", "wl_prodcons", "producer/consumer cross-thread frees",
             "one message (malloc on one thread, free on another)", GENERAL, threads=(2,)),
    Workload("realloc", "wl_realloc", "realloc growth (vectors x2, strings x1.5)", "one realloc", GENERAL),
    Workload("frag", "wl_frag", "fragmentation: fill 96 MiB, free 90%, refill", "one malloc or free", MEMORY),
    Workload("scaling", "wl_scaling", "thread scaling, thread-local small churn", "one free + one malloc", GENERAL,
             threads=(1, 2, 4, 8), expand_threads=True),
    Workload("mixed-random", "wl_mixed_random", "8 B - 64 KiB, log-uniform, freed in random order",
             "one malloc+fill, later its check+free", GENERAL, threads=(1, 2), expand_threads=True),
    Workload("queue", "wl_queue", "one thread only allocates, another only frees (a locked queue, bursts)",
             "one block (malloc+fill on one thread, check+free on the other)", GENERAL),
    Workload("cxx-sized", "wl_cxx_sized", "C++ new/delete with sized delete, objects 16 B - 4 KiB",
             "one new + one sized delete", GENERAL, threads=(2,)),
    Workload("bigrandom", "wl_bigrandom", "4 live blocks of 4-32 MiB, a random one replaced and filled each step",
             "one step: free + malloc + fill every byte", LARGE),
    Workload("bigswap", "wl_bigswap", "16 live blocks of 4-24 MiB, a random one replaced and filled each step",
             "one step: free + malloc + fill every byte", LARGE),
    Workload("startup", "wl_startup", "a tiny program: start, a few hundred mallocs, exit",
             "one process, spawn to exit (wall time, measured by the runner)", STARTUP, launches=20),
    Workload("wrapper", "wl_wrapper", "256 KiB - 8 MiB blocks through one xmalloc wrapper, from 3 callers",
             "one malloc (through xmalloc) + fill, later its check + free", LEARNING,
             extra_allocators=(NOWRAP,)),
    Workload("phase-size", "wl_phase_size", "PHASE-SIZE: one site, ~96 KiB then ~1.5 MiB buffers, window of 8",
             "malloc+fill+check+free of one buffer", LEARNING),
    Workload("phase-life", "wl_phase_life",
             "PHASE-LIFE: one site, ~384 KiB window of 8, then generations of 128 freed together",
             "malloc+fill+check+free of one block", LEARNING),
    Workload("two-sites", "wl_two_sites",
             "TWO-SITES: ~384 KiB window of 8 at one site, ~320 KiB generations of 128 at another",
             "malloc+fill+check+free of one block (either site)", LEARNING),
]
WORKLOAD_BY_NAME = {w.name: w for w in WORKLOADS}

# An extra allocator runs a workload only where its base ran (the comparison
# is the pair): NOWRAP beside hakmem-BALANCED.
EXTRA_BASE = {NOWRAP: "hakmem-BALANCED"}

DEFAULT_WORKLOADS = ["json", "mir", "vm", "mixed", "small", "larson", "prodcons", "realloc", "frag", "scaling",
                     "mixed-random", "queue", "cxx-sized", "bigrandom", "bigswap", "startup", "wrapper"]
PHASE_WORKLOADS = ["phase-size", "phase-life", "two-sites"]
# Workloads a target runs when --workloads is not given (default: DEFAULT_WORKLOADS).
# The learning target's workloads: the phase ones, hakmem's scenarios, and
# shapes where a free-policy row (256k/nc, /keep, /ret, /lazy) or another
# threshold beats the static default (bigswap, bigrandom, wrapper, realloc).
TARGET_WORKLOADS = {"learning": PHASE_WORKLOADS + ["vm", "json", "mir", "bigswap", "bigrandom", "wrapper", "realloc"]}
# The learning target runs these workloads longer (x the scale), so that at
# its default scale (2) every workload lasts about a second or more: at scale
# 1 vm, mir and json last 10-40 ms. A learner pays a fixed cost before it
# freezes (on mir ~20 ms: its exploring windows, the page faults of touching
# each candidate's memory once, and LEARN's counting), which is 7-8% of a
# 330 ms run and ~2% of a 1 s one (compare/README.md). bigswap, bigrandom,
# wrapper and realloc last 0.1-0.3 s at scale 1 under the static default.
LEARNING_SCALE = {"vm": 60, "mir": 60, "json": 15, "bigswap": 4, "bigrandom": 8, "wrapper": 2, "realloc": 2}
# ... and repeats these more (x --reps). A vm run reuses one 2 MiB block for
# its whole life, and where the kernel placed that block's pages decides the
# run's speed: the same touch loop over 8 fresh mappings in one process took
# 1.40-1.64 us per pass, and vm runs of one allocator spread +-12% (3,470-
# 4,960 ns/op in one 7-rep run). Its fixed strategies all route the block
# alike, so only repetitions tell LEARNING's cost from that noise.
LEARNING_REPS = {"vm": 3}


@dataclasses.dataclass
class PlanItem:
    """One row of the run: a workload at one thread count, or a user command
    (--cmd NAME=COMMAND), with the allocators it runs under."""
    id: str
    workload: str  # the Workload's name; for a command, its NAME
    threads: int
    binary: Optional[str]  # None for a command
    description: str
    op: str
    kind: str
    scale: float
    reps: int
    args: List[str]
    allocators: List[str]
    launches: int = 1
    command: Optional[str] = None  # --cmd's COMMAND (run with /bin/sh -c)

    @property
    def is_command(self):
        return self.command is not None

    def argv(self):
        return ["/bin/sh", "-c", self.command] if self.is_command else [self.binary] + self.args


def workload_ids(name, scaling_threads=None, threads=None):
    """The plan ids and thread counts of one --workloads entry: "scaling" ->
    [("scaling-t1", 1), ...], "scaling-t4" -> [("scaling-t4", 4)], "larson" ->
    [("larson", 2)]. Raises KeyError for an unknown name."""
    for w in WORKLOADS:
        if w.expand_threads and name.startswith(w.name + "-t") and name[len(w.name) + 2:].isdigit():
            return w, [(name, int(name[len(w.name) + 2:]))]
    w = WORKLOAD_BY_NAME[name]
    if w.expand_threads:
        counts = list(w.threads)
        if w.name == "scaling" and scaling_threads:
            counts = scaling_threads
        elif w.name != "scaling" and threads:
            counts = sorted({1, threads})
        return w, [("%s-t%d" % (w.name, t), t) for t in counts]
    t = (threads or w.threads[0]) if w.threads else 1
    return w, [(w.name, t)]


def launches_at(w, scale):
    """Processes per repetition of a launch workload at a scale (at least 3)."""
    return max(3, int(round(w.launches * min(scale, 5.0)))) if w.launches else 1
