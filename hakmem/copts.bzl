"""Compiler flags shared by every hakmem target (one place, like tcmalloc's copts.bzl)."""

# C11 with the GNU/POSIX declarations (mremap, MAP_FIXED_NOREPLACE, ...).
# Warnings are errors. Optimised even in fastbuild: the allocator is always
# measured, and -O0 allocators make every test slower than it needs to be.
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
] + select({
    "//hakmem:debug_build": ["-O0", "-g"],
    "//conditions:default": ["-O2", "-g"],
})

# GoogleTest files (C++17).
HAK_TEST_COPTS = [
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wno-missing-field-initializers",
    "-Wno-sign-compare",
]
