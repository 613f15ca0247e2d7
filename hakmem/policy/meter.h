/* meter.h — a learning window's cost from raw samples (layer L4).
 *
 * Pure: the caller reads the clocks and counters (learn.c: monotonic time,
 * the cycle counter, getrusage's minor faults, the large engine's bytes the
 * site holds resident) and passes them in as samples; the meter turns the
 * two samples around a window into the observation the lifecycle (evo.h)
 * learns from. Tests feed it simulated samples.
 *
 * ---- the cost: time and memory ----------------------------------------------
 *  time    cycles per request of the site over the window: the whole
 *          program's cycle counter (it runs at wall-clock rate), so what a
 *          strategy costs elsewhere (page faults, cache misses of other code)
 *          is in it too;
 *  memory  the bytes the site holds resident (its live large blocks and the
 *          freed ones its policy keeps), the mean of the window's two
 *          samples, priced at mem_ns_per_mib_s: holding 1 MiB for one second
 *          costs as much as that many ns of the program's time. Default
 *          4,000,000 (4 ms): each MiB held adds 0.4% to the window's cost,
 *          since over a window of T ns and n requests
 *              memory per request = rate x MiB x T / 1e9 / n
 *                                 = (time per request) x rate x MiB / 1e9.
 *          So a policy 2% faster that holds 60% more loses once the site
 *          holds ~9 MiB or more (0.98 (1 + 0.0064 R) > 1 + 0.004 R for
 *          R > 8.8 MiB); below, a few MiB are cheaper than 2% of the time.
 *          A ring of 4 cached 1 MiB blocks costs 1.6% of the site's time
 *          per request: a cache that saves the faults of a fresh block
 *          (~60 us) is worth it unless the site's requests are ~4 ms apart.
 *  The observation's cpu_per_op is the time term, mem_per_op the memory
 *  term (same unit); the lifecycle's window cost is their sum.
 */
#ifndef HAK_POLICY_METER_H
#define HAK_POLICY_METER_H

#include <stdbool.h>
#include <stdint.h>

#include "hakmem/config.h"
#include "hakmem/policy/evo.h"

#define HAK_METER_MEM_NS_DEFAULT 4000000.0 /* ns of time per MiB held for a second */

typedef struct hak_meter_sample {
  uint64_t now_ns;  /* monotonic clock */
  uint64_t cycles;  /* the cycle counter */
  uint64_t faults;  /* minor page faults of the process so far */
  int64_t resident; /* bytes the site holds resident, or -1 */
} hak_meter_sample_t;

typedef struct hak_meter {
  hak_meter_sample_t from; /* where the window's cost is measured from */
} hak_meter_t;

/* Measure from s on (a window's start, or its warm-up mark). */
HAK_INTERNAL void hak_meter_mark(hak_meter_t *m, hak_meter_sample_t s);

/* The memory term per request for a time term of cpu_per_op, a mean of
 * resident bytes (-1: unknown, 0) and a rate (ns per MiB per second). */
HAK_INTERNAL double hak_meter_mem_per_op(double cpu_per_op, double resident, double mem_ns_per_mib_s);

/* The observation of the window from the mark to end, over its costed
 * requests: cpu_per_op (cycles per request; 0 when costed is 0), mem_per_op,
 * faults since the mark, bytes = end's resident. */
HAK_INTERNAL hak_evo_obs_t hak_meter_obs(const hak_meter_t *m, hak_meter_sample_t end, uint64_t costed,
                                         double mem_ns_per_mib_s);

/* The cost per request so far (time + memory), for the early cut. */
HAK_INTERNAL double hak_meter_cost_so_far(const hak_meter_t *m, hak_meter_sample_t now, uint64_t costed,
                                          double mem_ns_per_mib_s);

#endif /* HAK_POLICY_METER_H */
