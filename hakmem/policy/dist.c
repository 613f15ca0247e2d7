/* dist.c — total variation distance between size-class histograms (layer
 * L4). Pure; see dist.h. */
#include "hakmem/policy/dist.h"

uint64_t hak_dist_total(const uint64_t h[HAK_DIST_BUCKETS]) {
  uint64_t t = 0;
  for (unsigned b = 0; b < HAK_DIST_BUCKETS; b++) t += h[b];
  return t;
}

double hak_dist_tv(const uint64_t a[HAK_DIST_BUCKETS], const uint64_t b[HAK_DIST_BUCKETS]) {
  uint64_t ta = hak_dist_total(a), tb = hak_dist_total(b);
  if (ta == 0 || tb == 0) return ta == tb ? 0.0 : 1.0;
  double sum = 0.0;
  for (unsigned i = 0; i < HAK_DIST_BUCKETS; i++) {
    double d = (double)a[i] / (double)ta - (double)b[i] / (double)tb;
    sum += d < 0 ? -d : d;
  }
  double tv = sum / 2;
  return tv > 1.0 ? 1.0 : tv;  // rounding can overshoot by an ulp
}

bool hak_dist_drifted(const uint64_t ref[HAK_DIST_BUCKETS], const uint64_t now[HAK_DIST_BUCKETS], double threshold) {
  return hak_dist_tv(ref, now) >= threshold;
}
