"""Fuzz targets: each harness gets its own instrumented copy of the hakmem
sources it needs, so `bazel run //fuzz:<name>` works without --config.

The sources are compiled here, in //fuzz, with FUZZ_COPTS rather than taken
from //hakmem's libraries (which are built with the configuration's flags):
no transition is needed and the allocator itself is instrumented. FUZZ_COPTS
first switch off whatever sanitizer the configuration asked for (a
--config=tsan build would otherwise mix thread and address sanitizers), then
switch on libFuzzer, ASan and UBSan.
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

_SANITIZE = "-fsanitize=fuzzer-no-link,address,undefined"

# HAK_COPTS, then the instrumentation (the later -O1 wins over HAK_COPTS's
# level). Internal asserts (HAK_DEBUG=2) are on unless --config=debug already
# asked for 3.
FUZZ_COPTS = HAK_COPTS + [
    "-fno-sanitize=all",
    _SANITIZE,
    "-fno-sanitize-recover=all",
    "-fno-omit-frame-pointer",
    "-O1",
    "-g",
] + select({
    "//fuzz:debug_config": [],
    "//conditions:default": ["-DHAK_DEBUG=2"],
})

# lld: gold warns about every ASan helper symbol of a -fsanitize link.
FUZZ_LINKOPTS = [
    "-fuse-ld=lld",
    "-fno-sanitize=all",
    "-fsanitize=fuzzer,address,undefined",
]

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

def hakmem_files(names):
    return [("//hakmem/policy:" + n[len("policy/"):]) if n.startswith("policy/") else ("//hakmem:" + n) for n in names]

def hak_fuzzer(name, srcs, deps = [], textual = []):
    """A libFuzzer binary `<name>_bin`, `bazel run` wrapper `<name>` and replay test `<name>_replay`."""
    native.cc_binary(
        name = name + "_bin",
        srcs = srcs,
        copts = FUZZ_COPTS + ["-fsanitize=fuzzer"],
        linkopts = FUZZ_LINKOPTS,
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
