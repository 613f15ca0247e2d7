"""Fuzz targets: each harness gets its own instrumented copy of the hakmem
sources it needs, so `bazel run //fuzz:<name>` works without --config.

The sources are compiled here, in //fuzz, with FUZZ_COPTS (or TSAN_FUZZ_COPTS)
rather than taken from //hakmem's libraries (which are built with the
configuration's flags): no transition is needed and the allocator itself is
instrumented. The copts first switch off whatever sanitizer the configuration
asked for (a --config=tsan build would otherwise mix thread and address
sanitizers), then switch on libFuzzer and ASan + UBSan (or TSan).

In these copies fuzz/fake_os.c stands in for the kernel behind hakmem/os.h:
os.c is compiled with the functions the fake replaces renamed to
hak_real_os_* (FAKE_OS_RENAMES), and the fake falls back to them.
"""

load("//hakmem:copts.bzl", "HAK_COPTS")
load(
    "//hakmem:sources.bzl",
    _API_HDRS = "HAK_API_HDRS",
    _BASE = "HAK_BASE",
    _BASE_HDRS = "HAK_BASE_HDRS",
    _CACHES = "HAK_CACHES",
    _CACHES_HDRS = "HAK_CACHES_HDRS",
    _CORE = "HAK_CORE",
    _CORE_HDRS = "HAK_CORE_HDRS",
    _MEMORY = "HAK_MEMORY",
    _MEMORY_HDRS = "HAK_MEMORY_HDRS",
    _OS = "HAK_OS",
    _OS_HDRS = "HAK_OS_HDRS",
    _POLICY = "HAK_POLICY",
    _POLICY_HDRS = "HAK_POLICY_HDRS",
)

# The invariant walkers and harness checks get no coverage instrumentation
# (coverage_ignore.txt says why); the file is a compile input of every
# instrumented library (COVERAGE_IGNORE).
COVERAGE_IGNORE = "coverage_ignore.txt"

# No source includes coverage_ignore.txt, so Bazel drops it from the compile
# actions' inputs after their first run (include pruning) and an edit alone
# rebuilds nothing: bump this with every edit of the list.
COVERAGE_IGNORE_REV = 4

# HAK_COPTS, then the instrumentation (the later -O1 wins over HAK_COPTS's
# level). Internal asserts (HAK_DEBUG=2) are on unless --config=debug already
# asked for 3.
def _fuzz_copts(sanitize):
    return HAK_COPTS + [
        "-fno-sanitize=all",
        "-fsanitize-coverage-ignorelist=fuzz/" + COVERAGE_IGNORE,
        "-DHAK_COVERAGE_IGNORE_REV=%d" % COVERAGE_IGNORE_REV,
        "-fno-sanitize-recover=all",
        "-fno-omit-frame-pointer",
        "-O1",
        "-g",
    ] + sanitize + select({
        "//fuzz:debug_config": [],
        "//conditions:default": ["-DHAK_DEBUG=2"],
    })

_ASAN = ["-fsanitize=fuzzer-no-link,address,undefined"]

FUZZ_COPTS = _fuzz_copts(_ASAN)

# lld: gold warns about every ASan helper symbol of a -fsanitize link.
FUZZ_LINKOPTS = [
    "-fuse-ld=lld",
    "-fno-sanitize=all",
    "-fsanitize=fuzzer,address,undefined",
]

# ThreadSanitizer (the multi-threaded harness; -DHAK_ASAN=1 must not reach
# it). Under --config=asan it is built with ASan + UBSan like the others:
# that config's --linkopt=-fsanitize=address comes after a rule's linkopts,
# and clang refuses address with thread in one link.
TSAN_FUZZ_COPTS = _fuzz_copts(select({
    "//fuzz:asan_config": _ASAN,
    # No stack-depth tracing under TSan: its per-function read of the
    # thread-local __sancov_lowest_stack is instrumented by TSan, a
    # __tsan_read8 per call (perf: 4% of threads_fuzzer's time), for a
    # feature (deepest stack) that says little about an allocator.
    "//conditions:default": ["-fsanitize=fuzzer-no-link,thread", "-fno-sanitize-coverage=stack-depth", "-UHAK_ASAN"],
}))

TSAN_FUZZ_LINKOPTS = select({
    "//fuzz:asan_config": FUZZ_LINKOPTS,
    "//conditions:default": [
        "-fuse-ld=lld",
        "-fno-sanitize=all",
        "-fsanitize=fuzzer,thread",
        # threads_fuzzer.c declares libFuzzer's counters a benign race as
        # each module registers them (why: there).
        "-Wl,--wrap=__sanitizer_cov_8bit_counters_init",
    ],
})

# Ordinary programs (tests) built from the same instrumented objects.
ASAN_LINKOPTS = [
    "-fuse-ld=lld",
    "-fno-sanitize=all",
    "-fsanitize=address,undefined",
]

# The hakmem sources by layer, from the list //hakmem itself builds from.
HAK_BASE = _BASE
HAK_BASE_HDRS = _BASE_HDRS + _API_HDRS
HAK_OS = _OS
HAK_OS_HDRS = _OS_HDRS
HAK_MEMORY = _MEMORY
HAK_MEMORY_HDRS = _MEMORY_HDRS
HAK_CACHES = _CACHES
HAK_CACHES_HDRS = _CACHES_HDRS
HAK_CORE = _CORE
HAK_CORE_HDRS = _CORE_HDRS
HAK_POLICY = ["policy/" + f for f in _POLICY]
HAK_POLICY_HDRS = ["policy/" + f for f in _POLICY_HDRS]

# The os.h functions fuzz/fake_os.c implements: os.c is compiled with them
# renamed hak_real_<name without hak_>, which the fake falls back to. A new
# os.h function is the real one until it is added here and to fake_os.c.
FAKE_OS_RENAMES = [
    "hak_os_set_hooks",
    "hak_os_map",
    "hak_os_map_skewed",
    "hak_os_unmap",
    "hak_os_advise",
    "hak_os_grow_in_place",
    "hak_os_move",
    "hak_os_protect",
]

def hakmem_files(names):
    return [("//hakmem/policy:" + n[len("policy/"):]) if n.startswith("policy/") else ("//hakmem:" + n) for n in names]

def hak_instrumented(suffix = "", copts = FUZZ_COPTS):
    """The instrumented hakmem: `hakmem_base<suffix>` (L0: libc, log, options,
    stats) and `hakmem_core<suffix>` (everything else, over fuzz/fake_os.c)."""
    native.cc_library(
        name = "hakmem_base" + suffix,
        testonly = True,
        srcs = hakmem_files(HAK_BASE),
        hdrs = hakmem_files(HAK_BASE_HDRS),
        textual_hdrs = [COVERAGE_IGNORE],
        copts = copts,
        linkstatic = True,
    )
    native.cc_library(
        name = "os_real" + suffix,
        testonly = True,
        srcs = hakmem_files(HAK_OS),
        hdrs = hakmem_files(HAK_OS_HDRS),
        copts = copts + ["-D%s=hak_real_%s" % (n, n[len("hak_"):]) for n in FAKE_OS_RENAMES],
        linkstatic = True,
        deps = [":hakmem_base" + suffix],
    )
    native.cc_library(
        name = "hakmem_core" + suffix,
        testonly = True,
        srcs = ["fake_os.c"] + hakmem_files(HAK_MEMORY + HAK_CACHES + HAK_POLICY + HAK_CORE),
        hdrs = ["fake_os.h"] + hakmem_files(HAK_OS_HDRS + HAK_MEMORY_HDRS + HAK_CACHES_HDRS + HAK_POLICY_HDRS + HAK_CORE_HDRS),
        copts = copts,
        linkopts = ["-ldl", "-lm", "-pthread"],
        linkstatic = True,
        deps = [":hakmem_base" + suffix, ":os_real" + suffix],
    )

def hak_fuzzer(name, srcs, deps = [], tsan = False):
    """A libFuzzer binary `<name>_bin`, `bazel run` wrapper `<name>` and replay test `<name>_replay`."""
    native.cc_binary(
        name = name + "_bin",
        srcs = srcs,
        copts = (TSAN_FUZZ_COPTS if tsan else FUZZ_COPTS) + ["-fsanitize=fuzzer"],
        linkopts = TSAN_FUZZ_LINKOPTS if tsan else FUZZ_LINKOPTS,
        deps = deps,
        tags = ["own_sanitizers"],
        testonly = True,
    )
    native.sh_binary(
        name = name,
        srcs = ["run_fuzzer.sh"],
        args = [name],
        data = [":" + name + "_bin"],
        tags = ["own_sanitizers"],
        testonly = True,
    )
    native.sh_test(
        name = name + "_replay",
        srcs = ["replay_test.sh"],
        args = ["$(location :%s_bin)" % name, name],
        data = [":" + name + "_bin"] + native.glob(
            ["corpus/%s/**" % name, "regressions/%s/**" % name],
            allow_empty = True,
        ),
        size = "small",
        tags = ["own_sanitizers"],
    )
