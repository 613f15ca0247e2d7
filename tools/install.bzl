"""What `bazel run //:install -- PREFIX` installs, shared by //:install and
//tests:tools_test (which runs the same installer into a temporary prefix)."""

load(":version.bzl", "HAKMEM_SOVERSION", "HAKMEM_VERSION")

INSTALL_DATA = [
    "//hakmem:libhakmem.so",
    "//hakmem:include/hakmem.h",
    "//hakmem:include/hakmem_stats.h",
    "//tools:hakmem",
    "//tools:man_page",
]

INSTALL_ARGS = [
    "--version=" + HAKMEM_VERSION,
    "--soversion=" + HAKMEM_SOVERSION,
    "--lib=$(rootpath //hakmem:libhakmem.so)",
    "--bin=$(rootpath //tools:hakmem)",
    "--man=$(rootpath //tools:man_page)",
    "--header=$(rootpath //hakmem:include/hakmem.h)",
    "--header=$(rootpath //hakmem:include/hakmem_stats.h)",
]
