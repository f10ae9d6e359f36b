/*
 * bench_revision.c: how fast the revision envelope runs. Seals N (default
 * 20000, or argv[1]) realistic ~2 KB case-record bodies, then parses and
 * verifies the signature of each, then opens each, and prints a table:
 * revisions per second for each step and the average encoded size. Then
 * the delta rows: the bodies of bench_records.h (as bench_fill writes
 * them), a new record's revision against an edit of one field of it, full
 * (as without deltas) and as a delta, in bytes; and the read cost of a body
 * (parse + decrypt + decompress) at chain depth 0 and at the bound
 * (TK_MAX_DELTA_CHAIN parents fetched from memory, checked and decrypted).
 *
 * Not a ctest; run it by hand: build/bin/bench_revision [N]
 * Single-threaded.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_records.h"
#include "tk_revision.h"

static uint32_t rng = 0x2545F491u;

static uint32_t next(void)
{
  rng ^= rng << 13;
  rng ^= rng >> 17;
  rng ^= rng << 5;
  return rng;
}

static const char *pick(const char *const *a, size_t n)
{
  return a[next() % n];
}

#define PICK(a) pick((a), sizeof(a) / sizeof(a)[0])

/* Appends one human-rights case record of about 2 KB of JSON to b. */
static void case_body(tk_buf_t *b, unsigned i)
{
  static const char *const aliases[] = {"A.K.",  "B.T.", "Ch.M.", "D.S.", "E.O.",
                                        "Zh.A.", "N.I.", "R.U.",  "S.B.", "T.K."};
  static const char *const regions[] = {"Osh",   "Bishkek", "Jalal-Abad", "Batken",
                                        "Naryn", "Talas",   "Issyk-Kul",  "Chui"};
  static const char *const courts[] = {"city court", "district court", "regional court",
                                       "Supreme Court", "military court"};
  static const char *const articles[] = {
      "Art. 122 (torture)",    "Art. 341 (hooliganism)", "Art. 278 (mass unrest)",
      "Art. 330 (incitement)", "Art. 205 (fraud)",       "Art. 143 (illegal detention)"};
  static const char *const words[] = {
      "the",         "client",    "was",         "detained",     "without",
      "a",           "warrant",   "at",          "night",        "and",
      "held",        "for",       "three",       "days",         "before",
      "lawyer",      "access",    "was",         "granted",      "police",
      "officers",    "refused",   "to",          "register",     "the",
      "arrest",      "family",    "members",     "were",         "not",
      "informed",    "medical",   "examination", "showed",       "bruises",
      "on",          "arms",      "back",        "investigator", "pressured",
      "witness",     "statement", "signed",      "under",        "duress",
      "hearing",     "postponed", "twice",       "prosecutor",   "requested",
      "extension",   "of",        "pre-trial",   "custody",      "appeal",
      "filed",       "with",      "ombudsman",   "complaint",    "registered",
      "testimony",   "recorded",  "in",          "presence",     "interpreter",
      "Kyrgyz",      "Russian",   "Uzbek",       "journalist",   "blogger",
      "protest",     "square",    "detention",   "centre",       "cell",
      "overcrowded", "visits",    "denied",      "threatened",   "confiscated",
      "phone",       "passport",  "released",    "on",           "bail"};
  size_t start = b->n;
  tk_buf_printf(b,
                "{\"case_no\":\"%s-%04u-%05u\",\"client\":\"%s\",\"region\":\"%s\","
                "\"court\":\"%s %s\",\"article\":\"%s\",\"opened\":\"2024-%02u-%02u\","
                "\"status\":\"%s\",\"narrative\":\"",
                "OSH", 2020 + i % 5, i, PICK(aliases), PICK(regions), PICK(regions),
                PICK(courts), PICK(articles), 1 + next() % 12, 1 + next() % 28,
                next() % 3 ? "open" : "appeal");
  size_t sentence = 0;
  while (b->n - start < 2000) {
    const char *w = PICK(words);
    if (sentence == 0)
      tk_buf_printf(b, "%c%s", w[0] >= 'a' && w[0] <= 'z' ? w[0] - 32 : w[0], w + 1);
    else
      tk_buf_printf(b, " %s", w);
    if (++sentence > 8 + next() % 10) {
      tk_buf_printf(b, ". ");
      sentence = 0;
    }
  }
  tk_buf_printf(b, ".\"}");
}

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- delta rows ------------------------------------------------------------ */

#define DELTA_RECORDS 200

/* The revisions of one chain, for tk_rev_open_chain's fetch. */
typedef struct chain {
  tk_buf_t revs[TK_MAX_DELTA_CHAIN + 1];
  uint8_t ids[TK_MAX_DELTA_CHAIN + 1][TK_REV_ID_LEN];
  int n;
} chain_t;

static int chain_fetch(void *ctx, const uint8_t id[TK_REV_ID_LEN], tk_buf_t *out,
                       tk_err_t *err)
{
  chain_t *c = ctx;
  for (int i = 0; i < c->n; i++)
    if (memcmp(c->ids[i], id, TK_REV_ID_LEN) == 0)
      return tk_buf_append(out, c->revs[i].p, c->revs[i].n);
  return tk_err_set(err, TK_ENOTFOUND, "no such revision");
}

/* Seals body into c as the child of c's last revision, a delta against
 * base (its body) when base.p. */
static int chain_seal(chain_t *c, tk_slice_t body, tk_slice_t base, const uint8_t *vkey,
                      const uint8_t *sk, tk_err_t *err)
{
  tk_rev_draft_t d;
  memset(&d, 0, sizeof d);
  memset(d.record_id, 0x5A, sizeof d.record_id);
  d.type = "case";
  d.vault = "osh-cases";
  d.hlc = 1717171717171ull + (uint64_t)c->n;
  d.generation = (uint32_t)c->n + 1;
  d.body = body;
  if (c->n > 0) {
    d.parents = c->ids[c->n - 1];
    d.nparents = 1;
    if (base.p) {
      d.base_id = c->ids[c->n - 1];
      d.base = base;
      d.base_depth = (uint32_t)c->n - 1;
    }
  }
  tk_buf_t *out = &c->revs[c->n];
  out->n = 0;
  if (tk_rev_seal(out, &d, vkey, sk, err) != 0) return -1;
  tk_sha256(c->ids[c->n], out->p, out->n);
  c->n++;
  return 0;
}

/* One body of bench_records.h as compact JSON, with its "status" field set
 * to the i-th value. */
static void dump_with_status(json_t *j, unsigned i, tk_buf_t *out)
{
  char st[32];
  snprintf(st, sizeof st, "step-%u", i);
  json_object_set_new(j, "status", json_string(st));
  out->n = 0;
  char *s = json_dumps(j, JSON_COMPACT);
  tk_buf_append(out, s, strlen(s));
  free(s);
}

/* Microseconds to open c's last revision, averaged over reps. */
static double read_us(chain_t *c, const uint8_t *vkey, int reps, tk_err_t *err)
{
  tk_rev_source_t src = {chain_fetch, NULL, c};
  tk_buf_t plain = TK_BUF_INIT;
  uint32_t depth = 0;
  double t0 = bench_now();
  for (int r = 0; r < reps; r++) {
    tk_rev_t rev;
    plain.n = 0;
    tk_buf_t *b = &c->revs[c->n - 1];
    if (tk_rev_parse(&rev, TK_SLICE(b->p, b->n), err) != 0 ||
        tk_rev_open_chain(&rev, vkey, &src, &plain, &depth, err) != 0)
      return -1;
  }
  double us = (bench_now() - t0) * 1e6 / reps;
  tk_buf_wipe(&plain);
  return (int)depth == c->n - 1 ? us : -1;
}

static int delta_rows(const uint8_t *vkey, const uint8_t *sk)
{
  bench_rng_t br = {0x9E3779B9u};
  tk_buf_t body = TK_BUF_INIT, edit = TK_BUF_INIT;
  double json = 0, newrec = 0, full = 0, delta = 0, us0 = 0, usmax = 0;
  tk_err_t err;
  chain_t c;
  memset(&c, 0, sizeof c);
  for (int k = 0; k < DELTA_RECORDS; k++) {
    const char *type;
    json_t *j = bench_body(&br, (unsigned)k, &type);
    if (!j) return -1;
    /* a new record, then one edit of one field: without and with its base */
    dump_with_status(j, 0, &body);
    dump_with_status(j, 1, &edit);
    json += (double)body.n;
    c.n = 0;
    if (chain_seal(&c, TK_SLICE(body.p, body.n), TK_SLICE(NULL, 0), vkey, sk, &err) ||
        chain_seal(&c, TK_SLICE(edit.p, edit.n), TK_SLICE(NULL, 0), vkey, sk, &err))
      goto fail;
    newrec += (double)c.revs[0].n;
    full += (double)c.revs[1].n;
    c.n = 1;
    if (chain_seal(&c, TK_SLICE(edit.p, edit.n), TK_SLICE(body.p, body.n), vkey, sk,
                   &err))
      goto fail;
    delta += (double)c.revs[1].n;
    /* a chain to the bound: each step edits the field again */
    c.n = 1;
    double a = read_us(&c, vkey, 20, &err);
    for (unsigned i = 1; a >= 0 && i <= TK_MAX_DELTA_CHAIN; i++) {
      tk_buf_t prev = TK_BUF_INIT;
      tk_buf_append(&prev, body.p, body.n);
      dump_with_status(j, i, &body);
      int rc = chain_seal(&c, TK_SLICE(body.p, body.n), TK_SLICE(prev.p, prev.n), vkey,
                          sk, &err);
      tk_buf_free(&prev);
      if (rc) goto fail;
    }
    double b = a >= 0 ? read_us(&c, vkey, 20, &err) : -1;
    json_decref(j);
    if (a < 0 || b < 0) goto fail;
    us0 += a;
    usmax += b;
  }
  printf("delta: one-field edit of a bench_records.h body, %d records, %.0f bytes of "
         "JSON\n",
         DELTA_RECORDS, json / DELTA_RECORDS);
  printf("%-28s %12.0f\n", "delta new record bytes", newrec / DELTA_RECORDS);
  printf("%-28s %12.0f\n", "delta edit full bytes", full / DELTA_RECORDS);
  printf("%-28s %12.0f\n", "delta edit delta bytes", delta / DELTA_RECORDS);
  printf("%-28s %12.1f\n", "delta read us depth 0", us0 / DELTA_RECORDS);
  printf("delta read us depth %-7d %12.1f\n", TK_MAX_DELTA_CHAIN, usmax / DELTA_RECORDS);
  for (int i = 0; i <= TK_MAX_DELTA_CHAIN; i++)
    tk_buf_free(&c.revs[i]);
  tk_buf_free(&body);
  tk_buf_free(&edit);
  return 0;
fail:
  fprintf(stderr, "delta: %s\n", tk_err_str(&err));
  return -1;
}

int main(int argc, char **argv)
{
  long n = argc > 1 ? strtol(argv[1], NULL, 10) : 20000;
  if (n <= 0 || n > 10000000) {
    fprintf(stderr, "usage: %s [N revisions, 1..10000000]\n", argv[0]);
    return 2;
  }
  if (tk_crypto_init() != 0) return 2;
  uint8_t pk[TK_SIGN_PK_LEN], sk[TK_SIGN_SK_LEN], vkey[TK_VAULT_KEY_LEN];
  crypto_sign_keypair(pk, sk);
  tk_vault_key_new(vkey);

  /* The bodies are made before timing starts. */
  tk_buf_t bodies = TK_BUF_INIT, enc = TK_BUF_INIT, plain = TK_BUF_INIT;
  size_t *boff = calloc((size_t)n + 1, sizeof *boff);
  size_t *eoff = calloc((size_t)n + 1, sizeof *eoff);
  if (!boff || !eoff) return 2;
  for (long i = 0; i < n; i++) {
    boff[i] = bodies.n;
    case_body(&bodies, (unsigned)i);
  }
  boff[n] = bodies.n;

  tk_err_t err;
  uint8_t parent[TK_REV_ID_LEN];
  memset(parent, 0x42, sizeof parent);
  double t0 = now();
  for (long i = 0; i < n; i++) {
    tk_rev_draft_t d;
    memset(&d, 0, sizeof d);
    tk_random(d.record_id, sizeof d.record_id);
    d.type = "case";
    d.vault = "osh-cases";
    d.hlc = 1717171717171ull + (uint64_t)i;
    d.generation = (i % 2) ? 2 : 1; /* half are edits with one parent */
    d.parents = parent;
    d.nparents = (i % 2) ? 1 : 0;
    d.body = TK_SLICE(bodies.p + boff[i], boff[i + 1] - boff[i]);
    eoff[i] = enc.n;
    if (tk_rev_seal(&enc, &d, vkey, sk, &err) != 0) {
      fprintf(stderr, "seal: %s\n", tk_err_str(&err));
      return 1;
    }
  }
  eoff[n] = enc.n;
  double t_seal = now() - t0;

  t0 = now();
  for (long i = 0; i < n; i++) {
    tk_rev_t rev;
    if (tk_rev_parse(&rev, TK_SLICE(enc.p + eoff[i], eoff[i + 1] - eoff[i]), &err) != 0 ||
        tk_rev_verify_sig(&rev, &err) != 0) {
      fprintf(stderr, "parse/verify: %s\n", tk_err_str(&err));
      return 1;
    }
  }
  double t_verify = now() - t0;

  t0 = now();
  for (long i = 0; i < n; i++) {
    tk_rev_t rev;
    plain.n = 0;
    if (tk_rev_parse(&rev, TK_SLICE(enc.p + eoff[i], eoff[i + 1] - eoff[i]), &err) != 0 ||
        tk_rev_open(&rev, vkey, &plain, &err) != 0) {
      fprintf(stderr, "open: %s\n", tk_err_str(&err));
      return 1;
    }
    if (plain.n != boff[i + 1] - boff[i] ||
        memcmp(plain.p, bodies.p + boff[i], plain.n)) {
      fprintf(stderr, "open: body %ld differs\n", i);
      return 1;
    }
  }
  double t_open = now() - t0;

  printf("revision envelope, %ld revisions, bodies avg %.0f bytes of JSON\n", n,
         (double)bodies.n / (double)n);
  printf("%-28s %12s\n", "step", "per second");
  printf("%-28s %12.0f\n", "seal", (double)n / t_seal);
  printf("%-28s %12.0f\n", "parse + verify signature", (double)n / t_verify);
  printf("%-28s %12.0f\n", "parse + open (decrypt+zstd)", (double)n / t_open);
  printf("%-28s %12.0f\n", "avg encoded bytes", (double)enc.n / (double)n);
  printf("%-28s %12.2f\n", "encoded / JSON", (double)enc.n / (double)bodies.n);

  tk_buf_wipe(&plain);
  tk_buf_free(&bodies);
  tk_buf_free(&enc);
  free(boff);
  free(eoff);
  return delta_rows(vkey, sk) == 0 ? 0 : 1;
}
