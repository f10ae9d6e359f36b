/*
 * bench_revision.c: how fast the revision envelope runs. Seals N (default
 * 20000, or argv[1]) realistic ~2 KB case-record bodies, then parses and
 * verifies the signature of each, then opens each, and prints a table:
 * revisions per second for each step and the average encoded size.
 *
 * Not a ctest; run it by hand: build/bin/bench_revision [N]
 * Single-threaded.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
  return 0;
}
