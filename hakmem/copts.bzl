"""Compiler flags shared by every hakmem target (one place, like tcmalloc's copts.bzl).

The build levels of config.h come from --define (config_settings in
//hakmem): `--define hak_debug=N` (0-3) and `--define hak_opt=O0|O1|O2`.
They are selects here, not --copt, because a target's copts come after
--copt on the compiler's command line: a --copt=-O1 would lose to -O2 below.
Everything that builds hakmem code (//hakmem, //hakmem/policy, //fuzz's own
copies, //tests) takes them from HAK_COPTS or HAK_TEST_COPTS.
"""

# HAK_DEBUG_BUILD, which config.h turns into HAK_DEBUG (the larger of it and
# a target's own -DHAK_DEBUG). No define: config.h's default, 0.
HAK_DEBUG_COPTS = select({
    "//hakmem:hak_debug_1": ["-DHAK_DEBUG_BUILD=1"],
    "//hakmem:hak_debug_2": ["-DHAK_DEBUG_BUILD=2"],
    "//hakmem:hak_debug_3": ["-DHAK_DEBUG_BUILD=3"],
    "//conditions:default": [],
}) + select({
    # --define hak_release_checks=off: a measurement build (config.h).
    "//hakmem:hak_release_checks_off": ["-DHAK_RELEASE_CHECKS=0"],
    "//conditions:default": [],
})

# Optimised even in fastbuild: the allocator is always measured, and -O0
# allocators make every test slower than it needs to be. -c dbg means -O0;
# an explicit hak_opt wins over both (it comes last). DWARF 4: valgrind
# 3.19 (Debian 12) gives up on the DWARF 5 that clang-16 writes by default
# once gold lays out libhakmem.so's function sections (BUILD.bazel).
HAK_OPT_COPTS = ["-O2", "-g", "-gdwarf-4"] + select({
    "//hakmem:debug_build": ["-O0"],
    "//conditions:default": [],
}) + select({
    "//hakmem:hak_opt_O0": ["-O0"],
    "//hakmem:hak_opt_O1": ["-O1"],
    "//hakmem:hak_opt_O2": ["-O2"],
    "//conditions:default": [],
})

# C11 with the GNU/POSIX declarations (mremap, MAP_FIXED_NOREPLACE, ...).
# Warnings are errors.
HAK_COPTS = [
    "-std=c11",
    "-D_GNU_SOURCE",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wshadow",
    "-Wstrict-prototypes",
    "-Wmissing-prototypes",
    "-Wno-unused-parameter",
    "-fvisibility=hidden",
    "-fno-plt",
    # Bazel's toolchain asks for frame pointers; the allocator's fast paths
    # are shorter without (callers' return addresses come from the stack).
    "-fomit-frame-pointer",
    # One section per function: libhakmem.so's link puts the start-up path
    # together (hakmem/BUILD.bazel, hot_text.txt).
    "-ffunction-sections",
    # No _FORTIFY_SOURCE (the toolchain's -c opt adds =1): its checked
    # copies call libc's __memmove_chk & co., which lie in a part of libc's
    # code no other start-up path touches, so one checked memmove (os.c's
    # /proc/self/maps scan, whose bound the code keeps itself) made 64 KiB
    # more of libc resident in every process.
    "-U_FORTIFY_SOURCE",
] + HAK_OPT_COPTS + HAK_DEBUG_COPTS

# HAK_BUILD_O0=1 when hakmem itself is built unoptimised (-c dbg or
# hak_opt=O0): for tests whose expectations hold only for optimised code
# (e.g. which frames the front door adds).
HAK_OPT_DEFINES = select({
    "//hakmem:debug_build": ["-DHAK_BUILD_O0=1"],
    "//conditions:default": [],
}) + select({
    "//hakmem:hak_opt_O0": ["-DHAK_BUILD_O0=1"],
    "//conditions:default": [],
})

# GoogleTest files (C++17). They see the build's debug level too (the inline
# fast paths they include, and tests that expect a walker to abort), and
# whether hakmem is optimised.
HAK_TEST_COPTS = [
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wno-missing-field-initializers",
    "-Wno-sign-compare",
] + HAK_DEBUG_COPTS + HAK_OPT_DEFINES
