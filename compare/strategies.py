"""strategies.py — hakmem's strategy table (hakmem/policy/strategy.h) as the
comparison suite and the dashboard see it, loaded from strategy_table.json,
which //compare:strategy_table prints at build time: no copy of the table or
of its routing rule lives in Python.

Owns: finding and loading the generated table, lookups by row name, and the
one question the verdict asks of the routing rule (route_key: how a row
sends a set of log2 size buckets). The table's policy columns are whatever
the JSON lists under "columns" (the C printer's column list is the one place
that names them); nothing here names a column except large_threshold.

Called by: tables.py (the fixed strategies), learning.py (alike strategies),
runner.py (the table goes into results.json), dashboard/render.py, the tests.
"""

import json
import os

FILE = "strategy_table.json"
ENV = "HAKMEM_STRATEGY_TABLE"  # a path overriding the search below


def table_path():
    """The generated table: $HAKMEM_STRATEGY_TABLE, else next to this file
    (Bazel runfiles: <runfiles>/<workspace>/compare/), else bazel-bin's copy
    when run from a source tree. None when none exists."""
    here = os.path.dirname(os.path.abspath(__file__))
    cands = [os.environ.get(ENV), os.path.join(here, FILE),
             os.path.join(os.path.dirname(here), "bazel-bin", "compare", FILE)]
    return next((p for p in cands if p and os.path.exists(p)), None)


_cache = {}


def load(path=None):
    """The table document ({"columns", "sets", "rows": [...]}); raises
    FileNotFoundError naming the target that makes it."""
    path = path or table_path()
    if not path:
        raise FileNotFoundError("%s not found: build //compare:strategy_table_json (bazel run/test puts it in the "
                                "runfiles) or set %s" % (FILE, ENV))
    if path not in _cache:
        with open(path) as f:
            _cache[path] = json.load(f)
    return _cache[path]


def rows(doc=None):
    return (doc or load())["rows"]


def by_name(doc=None):
    """{row name ("512k"): row}."""
    return {r["name"]: r for r in rows(doc)}


def in_set(set_name, doc=None):
    """The rows of one candidate set ("ucb1", "elo"), in table order."""
    return [r for r in rows(doc) if set_name in r["sets"]]


def route(row, bucket):
    """Where row's threshold sends log2 bucket b ([2^b, 2^(b+1))): "below",
    "above", or "split <threshold>" (a split is unlike every other row)."""
    r = row["routes"][bucket]
    return "split %d" % row["large_threshold"] if r == "split" else r


def route_key(row, buckets):
    """How row treats requests of the given log2 buckets: two rows with equal
    keys run the same code on them (the learner's rule for alike arms,
    hakmem/policy/bucket.h's codes, which evo.c's routes_alike compares)."""
    return tuple(row["route_codes"][b] for b in buckets)


def describe(row):
    """The policy columns as a short label: "cache_slots=255 release=auto resident_shift=0"."""
    return " ".join("%s=%s" % (k, v) for k, v in row["policy"].items())


def size_label(n):
    """65536 -> "64K", 1048576 -> "1M" (the form HAKMEM_* size options take)."""
    if n % (1 << 20) == 0:
        return "%dM" % (n >> 20)
    if n % (1 << 10) == 0:
        return "%dK" % (n >> 10)
    return str(n)
