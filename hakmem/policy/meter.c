/* meter.c — a window's cost from two samples (layer L4); the rules are in
 * meter.h. Pure: the caller reads the clocks. Called by learn.c at window
 * ends and early-cut checks, and by the policy tests. */
#include "hakmem/policy/meter.h"

void hak_meter_mark(hak_meter_t *m, hak_meter_sample_t s) { m->from = s; }

double hak_meter_mem_per_op(double cpu_per_op, double resident, double mem_ns_per_mib_s) {
  if (!(resident > 0) || !(mem_ns_per_mib_s > 0) || !(cpu_per_op > 0)) return 0;
  return cpu_per_op * mem_ns_per_mib_s * (resident / (double)(1u << 20)) / 1e9;
}

static double mean_resident(const hak_meter_t *m, hak_meter_sample_t end) {
  if (end.resident < 0) return -1;
  if (m->from.resident < 0) return (double)end.resident;
  return ((double)m->from.resident + (double)end.resident) / 2;
}

hak_evo_obs_t hak_meter_obs(const hak_meter_t *m, hak_meter_sample_t end, uint64_t costed, double mem_ns_per_mib_s) {
  hak_evo_obs_t o = {.ops = costed, .cpu_per_op = 0, .mem_per_op = 0, .faults = -1, .bytes_mapped = end.resident};
  if (!costed) return o;
  uint64_t cyc = end.cycles > m->from.cycles ? end.cycles - m->from.cycles : 0;
  o.cpu_per_op = (double)cyc / (double)costed;
  o.mem_per_op = hak_meter_mem_per_op(o.cpu_per_op, mean_resident(m, end), mem_ns_per_mib_s);
  o.faults = end.faults >= m->from.faults ? (int64_t)(end.faults - m->from.faults) : 0;
  return o;
}

double hak_meter_cost_so_far(const hak_meter_t *m, hak_meter_sample_t now, uint64_t costed, double mem_ns_per_mib_s) {
  hak_evo_obs_t o = hak_meter_obs(m, now, costed, mem_ns_per_mib_s);
  return o.cpu_per_op + o.mem_per_op;
}
