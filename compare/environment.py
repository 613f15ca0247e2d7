"""environment.py — what a results file records about where it was made: the
git state of the workspace, the machine, whether perf can count
instructions, and Debian package versions.

Called by: runner.py. Every probe degrades to "unknown"/None/False instead of
failing: a run on a machine without git or perf still reports.
"""

import os
import platform
import shutil
import socket
import subprocess


def workspace_dir():
    """The workspace `bazel run` was started in (BUILD_WORKSPACE_DIRECTORY), else the current directory."""
    return os.environ.get("BUILD_WORKSPACE_DIRECTORY") or os.getcwd()


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


def glibc_version():
    return os.confstr("CS_GNU_LIBC_VERSION") if hasattr(os, "confstr") else "unknown"


def machine_info(perf_ok):
    mem_kb = read_first("/proc/meminfo", "MemTotal").split()
    return {
        "hostname": socket.gethostname(),
        "cpu_model": read_first("/proc/cpuinfo", "model name") or platform.processor() or "unknown",
        "cpus": os.cpu_count() or 1,
        "mem_total_kb": int(mem_kb[0]) if mem_kb else 0,
        "kernel": platform.release(),
        "arch": platform.machine(),
        "glibc": glibc_version(),
        "python": platform.python_version(),
        "perf_instructions": perf_ok,
    }
