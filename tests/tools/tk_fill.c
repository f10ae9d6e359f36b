/*
 * tk_fill.c: writes many records into an office store quickly, for the sync
 * tests that need a large push (one `tunduk new` per record costs a
 * process and a key unlock each).
 *
 *   tk_fill --home OFFICE --vault V [--count N] [--size BYTES] [--type T]
 *
 * Creates N (default 1000) records of type T (default "case") in vault V
 * through tk_office_new, so each is sealed, signed and stored exactly as
 * the CLI would; transactions of 500 records. Each body is a valid "case"
 * (plugins/case.lua): {"case_number": "FILL-i", "client_alias": "Client
 * F-i", "status": "open", "notes": "<BYTES random hex characters>"}
 * (default 200).
 * The passphrase comes from $TUNDUK_PASSPHRASE. Prints the count written.
 *
 * Threads: one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tk_office_engine.h"

#define TX_RECORDS 500
#define MAX_FILL (256u << 10)

int main(int argc, char **argv)
{
  /* First of all: no core file may ever hold what this process decrypts. */
  if (tk_process_no_core() != 0) {
    fprintf(stderr, "tk_fill: cannot turn core dumps off\n");
    return 1;
  }
  const char *home = NULL, *vault = NULL, *type = "case";
  long count = 1000, size = 200;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--home"))
      home = argv[i + 1];
    else if (!strcmp(argv[i], "--vault"))
      vault = argv[i + 1];
    else if (!strcmp(argv[i], "--count"))
      count = atol(argv[i + 1]);
    else if (!strcmp(argv[i], "--size"))
      size = atol(argv[i + 1]);
    else if (!strcmp(argv[i], "--type"))
      type = argv[i + 1];
    else
      home = NULL, i = argc;
  }
  const char *pass = getenv("TUNDUK_PASSPHRASE");
  if (!home || !vault || !pass || count < 0 || size < 0 ||
      (unsigned long)size > MAX_FILL || argc % 2 == 0) {
    fprintf(stderr, "usage: TUNDUK_PASSPHRASE=... tk_fill --home OFFICE --vault V "
                    "[--count N] [--size BYTES] [--type T]\n");
    return 2;
  }
  tk_office_t *o = NULL;
  tk_err_t err;
  int rc = 1;
  long done_n = 0, in_tx = 0;
  char *fill = malloc((size_t)size + 1);
  uint8_t *rnd = NULL;
  if (!fill || tk_crypto_init() != 0) goto done;
  if (tk_office_open(&o, home, &err) != 0 ||
      tk_office_unlock(o, pass, strlen(pass), &err) != 0)
    goto fail;
  tk_store_t *s = tk_office_store(o);
  rnd = malloc((size_t)size / 2 + 1);
  if (!rnd) goto done;
  for (long i = 0; i < count; i++) {
    tk_random(rnd, (size_t)size / 2);
    tk_hex_encode(fill, rnd, (size_t)size / 2);
    char num[32], alias[40];
    snprintf(num, sizeof num, "FILL-%ld", i);
    snprintf(alias, sizeof alias, "Client F-%ld", i);
    json_t *body = json_pack("{s:s, s:s, s:s, s:s}", "case_number", num, "client_alias",
                             alias, "status", "open", "notes", fill);
    if (!body) goto done;
    if (in_tx == 0 && tk_store_begin(s, &err) != 0) {
      json_decref(body);
      goto fail;
    }
    int wrc = tk_office_new(o, type, vault, body, NULL, NULL, &err);
    json_decref(body);
    if (wrc != 0) {
      tk_store_rollback(s);
      in_tx = 0;
      goto fail;
    }
    if (++in_tx == TX_RECORDS || i + 1 == count) {
      if (tk_store_commit(s, &err) != 0) goto fail;
      done_n += in_tx;
      in_tx = 0;
    }
  }
  printf("%ld\n", done_n);
  rc = 0;
  goto done;
fail:
  fprintf(stderr, "tk_fill: %s\n", tk_err_str(&err));
done:
  free(rnd);
  free(fill);
  tk_office_close(o);
  return rc;
}
