/* p2.c — P² quantile estimation (layer L4). Pure arithmetic; see p2.h.
 * Marker i (0..4) tracks the min, p/2, p, (1+p)/2 quantiles and the max. */
#include "hakmem/policy/p2.h"

#include "hakmem/check.h"

void hak_p2_init(hak_p2_t *e, double p) {
  HAK_CHECK(p > 0.0 && p < 1.0, "p2: quantile outside (0, 1)");
  *e = (hak_p2_t){.p = p};
  for (int i = 0; i < 5; i++) e->n[i] = (double)(i + 1);
  e->np[0] = 1, e->np[1] = 1 + 2 * p, e->np[2] = 1 + 4 * p, e->np[3] = 3 + 2 * p, e->np[4] = 5;
  e->dn[0] = 0, e->dn[1] = p / 2, e->dn[2] = p, e->dn[3] = (1 + p) / 2, e->dn[4] = 1;
}

static double parabolic(const hak_p2_t *e, int i, double d) {
  const double *q = e->q, *n = e->n;
  return q[i] + d / (n[i + 1] - n[i - 1]) *
                    ((n[i] - n[i - 1] + d) * (q[i + 1] - q[i]) / (n[i + 1] - n[i]) +
                     (n[i + 1] - n[i] - d) * (q[i] - q[i - 1]) / (n[i] - n[i - 1]));
}

static double linear(const hak_p2_t *e, int i, int d) {
  return e->q[i] + d * (e->q[i + d] - e->q[i]) / (e->n[i + d] - e->n[i]);
}

void hak_p2_add(hak_p2_t *e, double x) {
  if (e->count < 5) {
    // Keep the first five sorted by insertion.
    int i = (int)e->count;
    while (i > 0 && e->q[i - 1] > x) e->q[i] = e->q[i - 1], i--;
    e->q[i] = x;
    e->count++;
    return;
  }
  e->count++;
  int k;  // the cell x falls in; extremes stretch
  if (x < e->q[0]) e->q[0] = x, k = 0;
  else if (x >= e->q[4]) {
    if (x > e->q[4]) e->q[4] = x;
    k = 3;
  } else {
    k = 0;
    while (k < 3 && x >= e->q[k + 1]) k++;
  }
  for (int i = k + 1; i < 5; i++) e->n[i] += 1;
  for (int i = 0; i < 5; i++) e->np[i] += e->dn[i];
  for (int i = 1; i <= 3; i++) {
    double d = e->np[i] - e->n[i];
    if ((d >= 1 && e->n[i + 1] - e->n[i] > 1) || (d <= -1 && e->n[i - 1] - e->n[i] < -1)) {
      int s = d >= 0 ? 1 : -1;
      double q = parabolic(e, i, (double)s);
      if (!(e->q[i - 1] < q && q < e->q[i + 1])) q = linear(e, i, s);
      e->q[i] = q;
      e->n[i] += s;
    }
  }
}

double hak_p2_value(const hak_p2_t *e) {
  if (e->count == 0) return 0.0;
  if (e->count < 5) {
    // Nearest rank: the ceil(p * count)-th smallest.
    uint64_t r = (uint64_t)(e->p * (double)e->count);
    if ((double)r < e->p * (double)e->count) r++;
    if (r == 0) r = 1;
    return e->q[r - 1];
  }
  return e->q[2];
}
