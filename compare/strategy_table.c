/* strategy_table.c — prints hakmem's strategy table (hakmem/policy/strategy.h)
 * as JSON for the comparison suite and the dashboard, so that Python holds
 * no copy of it: every row (its enum id, name, large threshold, the other
 * policy columns, candidate sets) and, per row and log2 size bucket, where
 * the row's threshold routes the bucket (hakmem/policy/bucket.h, the rule
 * the learner uses to count alike arms as one).
 *
 * Run by the genrule //compare:strategy_table_json at build time; read by
 * compare/tables.py (strategy_table.json in the runfiles). Output:
 *   {"schema": "hakmem-strategies/1", "buckets": 41, "static_threshold": 262144,
 *    "sets": {"ucb1": {"mask": 1, "static_row": "256k"}, "elo": {...}},
 *    "columns": ["cache_slots", ...],       the policy columns after the threshold
 *    "rows": [{"id": "T64K", "name": "64k", "index": 0, "large_threshold": 65536,
 *              "policy": {"cache_slots": 255, "release": "auto", ...}, "sets": ["ucb1"],
 *              "initial_pins": ["ucb1"], "routes": ["below", ..., "split", "above", ...],
 *              "route_codes": [1, ...]}, ...]}
 * routes: where the threshold places each bucket; route_codes: bucket.h's
 * code (placement and free policy), equal for rows that run the same code.
 * static_threshold: HAKMEM_LARGE_THRESHOLD's default (HAKMEM_EVO=off routes by
 * it); static_row: the set's row nearest it. initial_pins: the sets in which
 * HAKMEM_EVO_INITIAL=<the row's threshold> pins that row. A "split" bucket
 * holds the threshold itself: unlike every other threshold.
 */
#include <stdio.h>

#include "hakmem/options.h"
#include "hakmem/policy/bucket.h"
#include "hakmem/policy/strategy.h"

#define BUCKETS 41u /* log2 buckets 0 .. 40: every size a request can have */

typedef struct column {
  const char *key;
  long long value;   /* NUM */
  const char *token; /* TOKEN: the value as written in the table; NULL for NUM */
} column_t;
#define NUM(key, v) {#key, (long long)(v), NULL}
#define TOKEN(key, v) {#key, 0, #v}
#define NAMED(key, v, names) {#key, (long long)(v), names[v]}

#define COLS(...) (const column_t[]){__VA_ARGS__}, sizeof((const column_t[]){__VA_ARGS__}) / sizeof(column_t)

/* THE COLUMN LIST: the one place to edit when HAK_STRATEGIES's columns
 * change. ROW's parameters mirror X(...) of the table; COLS lists the policy
 * columns after the threshold, each NUM(json key, value) or TOKEN(json key,
 * value) for a value written as a bare word (printed as that word). */
#define ROW(id, nm, thr, slots, rel, res, st)                                                       \
  row(#id, nm, (hak_policy_t){.large_threshold = (thr), .cache_slots = (slots), .release = (rel), .resident_shift = (res)}, \
      (uint32_t)(st), COLS(NUM(cache_slots, slots), NAMED(release, rel, hak_release_names), NUM(resident_shift, res)));

static const struct {
  const char *name;
  uint32_t mask;
} sets[] = {{"ucb1", HAK_STRAT_SET_UCB1 | HAK_STRAT_SET_FREE}, {"elo", HAK_STRAT_SET_ELO}};  // what each learner explores

static unsigned rows_out;

/* The options' built-in defaults (BALANCED's: its preset is the defaults).
 * HAKMEM_LARGE_THRESHOLD's is the static route of a site without learning
 * (HAKMEM_EVO=off) and where a frozen site starts without
 * HAKMEM_EVO_INITIAL. */
#define OPT_DEFAULT(id, type, def, lo, hi, names, meaning) [HAK_OPT_##id] = (uint64_t)(def),
static const uint64_t opt_default[HAK_OPT_COUNT] = {HAK_OPTIONS(OPT_DEFAULT)};
#undef OPT_DEFAULT

static void row(const char *id, const char *name, hak_policy_t p, uint32_t mask, const column_t *cols, size_t ncols) {
  uint64_t threshold = p.large_threshold;
  if (!rows_out) {  // the header: the column keys, from the first row
    printf("\"columns\": [");
    for (size_t c = 0; c < ncols; c++) printf("%s\"%s\"", c ? ", " : "", cols[c].key);
    printf("],\n \"rows\": [");
  }
  printf("%s\n  {\"id\": \"%s\", \"name\": \"%s\", \"index\": %u, \"large_threshold\": %llu, \"policy\": {",
         rows_out ? "," : "", id, name, rows_out, (unsigned long long)threshold);
  for (size_t c = 0; c < ncols; c++) {
    if (cols[c].token) printf("%s\"%s\": \"%s\"", c ? ", " : "", cols[c].key, cols[c].token);
    else printf("%s\"%s\": %lld", c ? ", " : "", cols[c].key, cols[c].value);
  }
  printf("}, \"sets\": [");
  unsigned n = 0;
  for (unsigned s = 0; s < sizeof sets / sizeof sets[0]; s++)
    if (mask & sets[s].mask) printf("%s\"%s\"", n++ ? ", " : "", sets[s].name);
  /* The sets in which HAKMEM_EVO_INITIAL=<this threshold> pins this row (a
   * frozen site starts on the set's row nearest the option). */
  printf("], \"initial_pins\": [");
  n = 0;
  for (unsigned s = 0; s < sizeof sets / sizeof sets[0]; s++)
    if (hak_strategy_nearest(threshold, sets[s].mask) == (int)rows_out) printf("%s\"%s\"", n++ ? ", " : "", sets[s].name);
  printf("], \"routes\": [");
  for (unsigned b = 0; b < BUCKETS; b++) {
    unsigned side = hak_bucket_place(p.large_threshold, b);  // placement alone: which side of the threshold
    printf("%s\"%s\"", b ? ", " : "", side == HAK_BUCKET_BELOW ? "below" : side == HAK_BUCKET_ABOVE ? "above" : "split");
  }
  printf("], \"route_codes\": [");  // equal codes: the same code runs (evo.c's alike arms)
  for (unsigned b = 0; b < BUCKETS; b++)
    printf("%s%llu", b ? ", " : "", (unsigned long long)hak_bucket_route(p, b));
  printf("]}");
  rows_out++;
}

int main(void) {
  uint64_t static_threshold = opt_default[HAK_OPT_LARGE_THRESHOLD];
  printf("{\"schema\": \"hakmem-strategies/1\", \"buckets\": %u, \"static_threshold\": %llu,\n \"sets\": {", BUCKETS,
         (unsigned long long)static_threshold);
  for (unsigned s = 0; s < sizeof sets / sizeof sets[0]; s++) {
    int st = hak_strategy_nearest(static_threshold, sets[s].mask);  // the row the static route matches
    printf("%s\"%s\": {\"mask\": %u, \"static_row\": \"%s\"}", s ? ", " : "", sets[s].name, sets[s].mask,
           st < 0 ? "" : hak_strategy_info[st].name);
  }
  printf("},\n ");
  HAK_STRATEGIES(ROW)
  printf("\n ]}\n");
  if (rows_out != HAK_STRAT_COUNT) return fprintf(stderr, "strategy_table: %u rows of %u\n", rows_out, (unsigned)HAK_STRAT_COUNT), 1;
  return ferror(stdout) ? 1 : 0;
}
