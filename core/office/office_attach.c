/*
 * office_attach.c: the attachment calls of the front ends' API
 * (tk_office.h): attach a file by record prefix, list a record's files
 * (without their keys) with how many of their chunks are here, decrypt one
 * to a file. One thread at a time, as tk_office_t.
 */
#include "office_internal.h"

#include <stdlib.h>
#include <string.h>

#include "tk_attach.h"

int tk_office_record_attach(tk_office_t *o, const char *record, const char *path,
                            const char *name, char rev_hex[2 * TK_REV_ID_LEN + 1],
                            tk_err_t *err)
{
  uint8_t rec[TK_RECORD_ID_LEN], rev[TK_REV_ID_LEN];
  if (!name) {
    name = strrchr(path, '/');
    name = name ? name + 1 : path;
  }
  int rc = tk_attach_name_check(name, err);
  if (!rc) rc = tk_office_record_find(o, record, rec, err);
  if (!rc) rc = tk_office_need_keys(o, err);
  if (!rc) rc = tk_office_attach(o, rec, path, name, rev, err);
  if (!rc) tk_hex_encode(rev_hex, rev, TK_REV_ID_LEN);
  return rc;
}

static void free_list(tk_attach_t *list, size_t n)
{
  for (size_t i = 0; i < n; i++)
    tk_attach_clear(&list[i]);
  free(list);
}

/* The attachments of a record's winner: *list (free_list). */
static int winner_attachments(tk_office_t *o, const char *record, tk_attach_t **list,
                              size_t *n, tk_err_t *err)
{
  uint8_t rec[TK_RECORD_ID_LEN];
  tk_record_info_t ri;
  json_t *body = NULL;
  int rc = tk_office_record_find(o, record, rec, err);
  if (!rc) rc = tk_store_record_info(o->store, rec, &ri, err);
  if (!rc) rc = tk_office_need_keys(o, err);
  if (!rc) rc = tk_office_read(o, ri.winner, &body, NULL, err);
  if (!rc) rc = tk_attach_list(body, list, n, err);
  json_decref(body);
  return rc;
}

/* How many of a's chunks are here. */
static uint32_t chunks_here(tk_office_t *o, const tk_attach_t *a)
{
  uint32_t k = 0;
  for (uint32_t i = 0; i < a->nchunks; i++)
    k += tk_store_chunk_has(o->store, a->chunks[i]) == 1;
  return k;
}

int tk_office_attachments(tk_office_t *o, const char *record, json_t **out, tk_err_t *err)
{
  tk_attach_t *list = NULL;
  size_t n = 0;
  *out = NULL;
  int rc = winner_attachments(o, record, &list, &n, err);
  if (rc) return rc;
  json_t *arr = json_array();
  for (size_t i = 0; arr && i < n; i++) {
    const tk_attach_t *a = &list[i];
    char sha[2 * TK_HASH_LEN + 1];
    uint32_t here = chunks_here(o, a);
    tk_hex_encode(sha, a->sha256, TK_HASH_LEN);
    json_array_append_new(arr,
                          json_pack("{s:s,s:I,s:s,s:I,s:I,s:b}", "name", a->name, "size",
                                    (json_int_t)a->size, "sha256", sha, "chunks",
                                    (json_int_t)a->nchunks, "chunks_here",
                                    (json_int_t)here, "complete", here == a->nchunks));
  }
  free_list(list, n);
  if (!arr) return tk_err_set(err, TK_ENOMEM, "out of memory");
  *out = arr;
  return 0;
}

int tk_office_attachment_get(tk_office_t *o, const char *record, const char *name,
                             const char *out, tk_err_t *err)
{
  tk_attach_t *list = NULL;
  size_t n = 0;
  const tk_attach_t *a = NULL;
  int rc = winner_attachments(o, record, &list, &n, err);
  for (size_t i = 0; !rc && i < n && !a; i++)
    if (strcmp(list[i].name, name) == 0) a = &list[i];
  if (!rc && !a)
    rc = tk_err_set(err, TK_ENOTFOUND,
                    "record %s has no attachment named '%s' (see 'tunduk attachments')",
                    record, name);
  if (!rc) rc = tk_attach_write_file(o->store, a, out, err);
  free_list(list, n);
  return rc;
}
