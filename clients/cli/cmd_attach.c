/*
 * cmd_attach.c: the attachment commands: attach (a file into a new
 * revision), attachments (list a record's files and whether they are all
 * here), get (decrypt one to a file, every chunk and the whole file's hash
 * checked), and the "attachments incomplete" note show and list print.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "tk_attach.h"

int cli_chunks_missing(cli_t *c, const uint8_t rev[TK_REV_ID_LEN], uint32_t *missing,
                       uint32_t *total)
{
  return tk_store_rev_chunks(tk_office_store(c->office), rev, missing, total, &c->err);
}

int cmd_attach(cli_t *c)
{
  uint8_t rec[TK_RECORD_ID_LEN], rev[TK_REV_ID_LEN];
  const char *path = c->args[1], *name = c->name;
  if (!name) {
    name = strrchr(path, '/');
    name = name ? name + 1 : path;
  }
  int rc = tk_attach_name_check(name, &c->err);
  if (!rc) rc = cli_open(c, 0);
  if (!rc) rc = cli_record_id(c, c->args[0], rec);
  if (!rc) rc = cli_open(c, 1);
  if (!rc) rc = tk_office_attach(c->office, rec, path, name, rev, &c->err);
  if (rc) return cli_fail(c, rc);
  char hex[2 * TK_REV_ID_LEN + 1];
  tk_hex_encode(hex, rev, TK_REV_ID_LEN);
  printf("%s\n", hex);
  return EXIT_OK;
}

/* The attachments of a record's winner: *list (caller frees with
 * tk_attach_clear + free) and the winner's id. */
static int winner_attachments(cli_t *c, const char *id, uint8_t winner[TK_REV_ID_LEN],
                              tk_attach_t **list, size_t *n)
{
  uint8_t rec[TK_RECORD_ID_LEN];
  tk_record_info_t ri;
  json_t *body = NULL;
  int rc = cli_open(c, 0);
  if (!rc) rc = cli_record_id(c, id, rec);
  if (!rc) rc = tk_store_record_info(tk_office_store(c->office), rec, &ri, &c->err);
  if (!rc) rc = cli_open(c, 1);
  if (!rc) rc = tk_office_read(c->office, ri.winner, &body, NULL, &c->err);
  if (!rc) rc = tk_attach_list(body, list, n, &c->err);
  if (!rc) memcpy(winner, ri.winner, TK_REV_ID_LEN);
  json_decref(body);
  return rc;
}

static void free_list(tk_attach_t *list, size_t n)
{
  for (size_t i = 0; i < n; i++)
    tk_attach_clear(&list[i]);
  free(list);
}

/* How many of a's chunks are here. */
static uint32_t chunks_here(cli_t *c, const tk_attach_t *a)
{
  uint32_t k = 0;
  for (uint32_t i = 0; i < a->nchunks; i++)
    k += tk_store_chunk_has(tk_office_store(c->office), a->chunks[i]) == 1;
  return k;
}

int cmd_attachments(cli_t *c)
{
  tk_attach_t *list = NULL;
  size_t n = 0;
  uint8_t winner[TK_REV_ID_LEN];
  int rc = winner_attachments(c, c->args[0], winner, &list, &n);
  if (rc) return cli_fail(c, rc);
  json_t *arr = c->json ? json_array() : NULL;
  for (size_t i = 0; i < n; i++) {
    const tk_attach_t *a = &list[i];
    char sha[2 * TK_HASH_LEN + 1];
    uint32_t here = chunks_here(c, a);
    tk_hex_encode(sha, a->sha256, TK_HASH_LEN);
    if (arr)
      json_array_append_new(arr,
                            json_pack("{s:s,s:I,s:s,s:I,s:I,s:b}", "name", a->name,
                                      "size", (json_int_t)a->size, "sha256", sha,
                                      "chunks", (json_int_t)a->nchunks, "chunks_here",
                                      (json_int_t)here, "complete", here == a->nchunks));
    else
      printf("%-32s %12llu bytes  sha256 %.16s  %s\n", a->name,
             (unsigned long long)a->size, sha,
             here == a->nchunks ? "complete" : "incomplete");
    if (!arr && here != a->nchunks)
      printf("%-32s %u of %u chunks here; sync to fetch the rest\n", "", here,
             a->nchunks);
  }
  if (arr) {
    cli_print_json(arr);
    json_decref(arr);
  } else if (n == 0) {
    fprintf(stderr, "tunduk: the record has no attachments\n");
  }
  free_list(list, n);
  return EXIT_OK;
}

int cmd_get(cli_t *c)
{
  tk_attach_t *list = NULL;
  size_t n = 0;
  uint8_t winner[TK_REV_ID_LEN];
  if (!c->output) return cli_usage("'get' needs -o OUT (a file, or - for stdout)");
  int rc = winner_attachments(c, c->args[0], winner, &list, &n);
  const tk_attach_t *a = NULL;
  for (size_t i = 0; !rc && i < n && !a; i++)
    if (strcmp(list[i].name, c->args[1]) == 0) a = &list[i];
  if (!rc && !a)
    rc = tk_err_set(&c->err, TK_ENOTFOUND,
                    "record %s has no attachment named '%s' (see 'tunduk attachments')",
                    c->args[0], c->args[1]);
  if (!rc) rc = tk_attach_write_file(tk_office_store(c->office), a, c->output, &c->err);
  free_list(list, n);
  return rc ? cli_fail(c, rc) : EXIT_OK;
}
