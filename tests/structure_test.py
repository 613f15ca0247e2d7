"""structure_test.py — the layering rules of hakmem/ (docs/design.md), checked
on the sources themselves: no include cycle among the modules (a module is a
file's name without .c/.h; a private header, learn_site.h or X_impl.h,
belongs to the module it serves), no engine (heap,
heap_free, segment, large, large_resize, large_quarantine, bigcache, spare,
batch) includes a decorator's header (checked.h, learn.h, profile.h), and no
source file is over 450 lines; with --hot=hot_text.txt, every function the
link lays out first is still defined somewhere in the sources (gold skips a
name that no longer exists without a word, and the function would drop into
the cold part of libhakmem.so).
   structure_test.py [--hot=FILE] FILE...
"""
import os
import re
import sys

ENGINES = {"heap", "heap_free", "segment", "large", "large_resize", "large_quarantine", "bigcache", "spare", "batch"}
DECORATORS = {"checked", "learn", "profile"}
MAX_LINES = 450


def owner(name):
    if name == "learn_site":
        return "learn"
    return name[: -len("_impl")] if name.endswith("_impl") else name


def module(path):
    return owner(os.path.splitext(path.split("hakmem/", 1)[-1])[0])


def missing_hot(hot, texts):
    """Names in the section-ordering file (.text.NAME) defined nowhere."""
    words = set()
    for t in texts:
        words.update(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", t))
    names = [ln.strip()[len(".text."):] for ln in open(hot) if ln.strip().startswith(".text.")]
    return [n for n in names if n not in words], len(names)


def main(args):
    hot = [a[len("--hot="):] for a in args if a.startswith("--hot=")]
    files = [a for a in args if not a.startswith("--hot=")]
    graph, failures = {}, []
    for f in files:
        text = open(f).read()
        m = module(f)
        lines = text.count("\n")
        if f.endswith(".c") and lines > MAX_LINES:
            failures.append(f"{f}: {lines} lines (at most {MAX_LINES})")
        for inc in re.findall(r'#include "hakmem/([^"]+)\.h"', text):
            dep = owner(inc)
            if dep != m:
                graph.setdefault(m, set()).add(dep)
            if m in ENGINES and dep in DECORATORS:
                failures.append(f"{f}: an engine includes {inc}.h")
    state = {}

    def visit(n, stack):
        state[n] = 1
        for d in sorted(graph.get(n, ())):
            if state.get(d) == 1:
                failures.append("include cycle: " + " -> ".join(stack[stack.index(d):] + [d]))
            elif d not in state:
                visit(d, stack + [d])
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n, [n])
    if hot:
        gone, n = missing_hot(hot[0], [open(f).read() for f in files])
        failures += [f"{hot[0]}: {g} is defined in no source (renamed? update the list)" for g in gone]
        if n < 50:
            failures.append(f"{hot[0]}: only {n} functions listed")
    if len(files) < 40:
        failures.append(f"only {len(files)} files given: the filegroup lost its sources")
    for msg in failures:
        print("FAIL:", msg)
    print(f"{len(files)} files, {len(graph)} modules: {'ok' if not failures else str(len(failures)) + ' failures'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
