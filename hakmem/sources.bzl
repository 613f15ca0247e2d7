"""hakmem's source files by layer: the one list //hakmem, //hakmem/policy and
//fuzz (which compiles its own instrumented copy) all build from."""

HAK_BASE = ["fork.c", "libc.c", "log.c", "options.c", "stats.c"]
HAK_BASE_HDRS = ["check.h", "config.h", "fork.h", "libc.h", "lock.h", "log.h", "options.h", "stats.h"]
HAK_API_HDRS = ["include/hakmem.h", "include/hakmem_stats.h"]
HAK_OS = ["os.c"]
HAK_OS_HDRS = ["os.h"]
HAK_MEMORY = ["addrmap.c", "segment.c", "sizeclass.c"]
HAK_MEMORY_HDRS = ["addrmap.h", "segment.h", "sizeclass.h"]
HAK_CACHES = ["batch.c", "bigcache.c", "heap.c", "heap_free.c", "heap_release.c", "large.c", "large_free.c", "large_quarantine.c", "large_resize.c", "site.c", "spare.c"]
HAK_CACHES_HDRS = ["batch.h", "bigcache.h", "freepolicy.h", "heap.h", "heap_impl.h", "large.h", "large_impl.h", "site.h", "spare.h"]
HAK_CORE = ["alloc.c", "alloc_quiet.c", "callsite.c", "callsite_code.c", "callsite_name.c", "checked.c", "checked_guard.c", "init.c", "learn.c", "learn_report.c", "learn_site.c", "profile.c", "profile_write.c", "report.c"]
HAK_CORE_HDRS = ["alloc.h", "callsite.h", "callsite_impl.h", "checked.h", "init.h", "learn.h", "learn_site.h", "profile.h", "profile_impl.h", "route.h"]

# In //hakmem/policy (names relative to that package).
HAK_POLICY = ["dist.c", "elo.c", "evo.c", "evo_arms.c", "evo_inspect.c", "fmath.c", "meter.c", "p2.c", "strategy.c", "ucb1.c", "window.c"]
HAK_POLICY_HDRS = ["bucket.h", "dist.h", "elo.h", "evo.h", "evo_impl.h", "fmath.h", "meter.h", "p2.h", "strategy.h", "ucb1.h", "window.h"]
