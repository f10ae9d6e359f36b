/*
 * cmd_records.c: the record commands: new, edit, delete, show, list,
 * history. Input is parsed and checked before the passphrase is asked and
 * before anything is written, so bad input changes nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "tk_attach.h"

static void print_id(const uint8_t *id, size_t n)
{
  char hex[2 * TK_REV_ID_LEN + 1];
  tk_hex_encode(hex, id, n);
  printf("%s\n", hex);
}

int cmd_new(cli_t *c)
{
  json_t *body = NULL;
  uint8_t rec[TK_RECORD_ID_LEN];
  tk_vault_info_t vi;
  const char *type = c->args[0];
  if (!c->vault) return cli_usage("'new' needs --vault V");
  int rc = tk_name_check("type", type, TK_MAX_TYPE_LEN, 0, &c->err);
  if (!rc) rc = cli_read_body(c, c->nargs > 1 ? c->args[1] : "-", &body);
  if (!rc) rc = cli_open(c, 0);
  if (!rc) {
    rc = tk_store_vault_get(tk_office_store(c->office), c->vault, &vi, &c->err);
    if (rc == TK_ENOTFOUND)
      tk_err_set(&c->err, rc, "no vault '%s' (see 'tunduk vault list')", c->vault);
  }
  if (!rc && tk_body_is_tombstone(body))
    rc = tk_err_set(&c->err, TK_EINVAL,
                    "a new record cannot be a tombstone (\"_deleted\")");
  if (!rc) rc = cli_validate(c, type, body);
  if (!rc) rc = cli_open(c, 1);
  if (!rc) rc = tk_office_new(c->office, type, c->vault, body, rec, NULL, &c->err);
  json_decref(body);
  if (rc) return cli_fail(c, rc);
  print_id(rec, sizeof rec);
  return EXIT_OK;
}

/* Decrypts the winner of a record into *body. */
static int read_winner(cli_t *c, const uint8_t rec[TK_RECORD_ID_LEN], json_t **body,
                       tk_record_info_t *ri)
{
  int rc = tk_store_record_info(tk_office_store(c->office), rec, ri, &c->err);
  return rc ? rc : tk_office_read(c->office, ri->winner, body, NULL, &c->err);
}

static int write_revision(cli_t *c, const char *id, json_t *body, int deleting)
{
  uint8_t rec[TK_RECORD_ID_LEN], rev[TK_REV_ID_LEN];
  tk_record_info_t ri;
  json_t *cur = NULL;
  int rc = cli_open(c, 0);
  if (!rc) rc = cli_record_id(c, id, rec);
  if (!rc && !deleting && tk_body_is_tombstone(body))
    rc = tk_err_set(&c->err, TK_EINVAL, "use 'tunduk delete' to delete a record");
  if (!rc && !deleting)
    rc = tk_store_record_info(tk_office_store(c->office), rec, &ri, &c->err);
  if (!rc && !deleting) rc = cli_validate(c, ri.type, body);
  if (!rc) rc = cli_open(c, 1);
  if (!rc) rc = read_winner(c, rec, &cur, &ri);
  if (!rc && deleting && tk_body_is_tombstone(cur))
    rc = tk_err_set(&c->err, TK_EEXIST, "record %s is already deleted", id);
  /* an edit keeps the record's attachments (the input cannot name them) */
  if (!rc && !deleting && json_object_get(cur, TK_ATTACH_FIELD))
    json_object_set(body, TK_ATTACH_FIELD, json_object_get(cur, TK_ATTACH_FIELD));
  if (!rc) rc = tk_office_update(c->office, rec, body, TK_PARENTS_WINNER, rev, &c->err);
  json_decref(cur);
  if (rc) return cli_fail(c, rc);
  if (ri.nheads > 1)
    fprintf(stderr,
            "tunduk: note: the record had %u conflicting heads; this revision follows "
            "the winner and the others remain\n",
            ri.nheads);
  print_id(rev, sizeof rev);
  return EXIT_OK;
}

int cmd_edit(cli_t *c)
{
  json_t *body = NULL;
  int rc = cli_read_body(c, c->nargs > 1 ? c->args[1] : "-", &body);
  if (rc) return cli_fail(c, rc);
  int code = write_revision(c, c->args[0], body, 0);
  json_decref(body);
  return code;
}

int cmd_delete(cli_t *c)
{
  json_t *body = tk_body_tombstone();
  if (!body) return cli_fail(c, TK_ENOMEM);
  int code = write_revision(c, c->args[0], body, 1);
  json_decref(body);
  return code;
}

static json_t *hex_json(const uint8_t *p, size_t n)
{
  char hex[2 * TK_REV_ID_LEN + 1];
  tk_hex_encode(hex, p, n);
  return json_string(hex);
}

static json_t *device_json(const uint8_t id[TK_DEVICE_ID_LEN])
{
  char s[TK_DEVICE_ID_STRLEN];
  tk_device_id_format(s, id);
  return json_string(s);
}

static json_t *meta_json(const tk_rev_meta_t *m)
{
  char t[32];
  cli_time(t, m->hlc);
  json_t *parents = json_array();
  for (uint32_t i = 0; i < m->nparents; i++)
    json_array_append_new(parents, hex_json(m->parents[i], TK_REV_ID_LEN));
  return json_pack("{s:o,s:o,s:s,s:s,s:o,s:s,s:I,s:I,s:I,s:o}", "revision",
                   hex_json(m->id, TK_REV_ID_LEN), "record",
                   hex_json(m->record_id, TK_RECORD_ID_LEN), "type", m->type, "vault",
                   m->vault, "author", device_json(m->author), "time", t, "hlc",
                   (json_int_t)m->hlc, "generation", (json_int_t)m->generation, "seq",
                   (json_int_t)m->seq, "parents", parents);
}

int cmd_show(cli_t *c)
{
  uint8_t rec[TK_RECORD_ID_LEN], rev[TK_REV_ID_LEN];
  uint8_t heads[TK_MAX_PARENTS][TK_REV_ID_LEN];
  size_t nheads = 0;
  tk_record_info_t ri;
  tk_rev_meta_t meta;
  json_t *body = NULL;
  int not_winner = 0;
  uint32_t refused = 0;
  int rc = cli_open(c, 0);
  if (!rc) rc = cli_record_id(c, c->args[0], rec);
  if (!rc) rc = tk_store_record_info(tk_office_store(c->office), rec, &ri, &c->err);
  if (!rc) rc = tk_office_current(c->office, rec, rev, &not_winner, &refused, &c->err);
  if (!rc && c->rev) {
    rc = tk_store_resolve_prefix(tk_office_store(c->office), TK_ID_REVISION, c->rev, rev,
                                 &c->err);
    if (rc == TK_ENOTFOUND) tk_err_set(&c->err, rc, "no revision '%s'", c->rev);
    if (!rc && tk_store_rev_meta(tk_office_store(c->office), rev, &meta, &c->err) == 0 &&
        memcmp(meta.record_id, rec, sizeof rec) != 0)
      rc = tk_err_set(&c->err, TK_ENOTFOUND, "revision %s is not a revision of record %s",
                      c->rev, c->args[0]);
  }
  if (!rc) {
    rc = tk_store_heads(tk_office_store(c->office), rec, heads, TK_MAX_PARENTS, &nheads,
                        &c->err);
    if (rc > 0) rc = 0;
  }
  if (!rc) rc = cli_open(c, 1);
  if (!rc) rc = tk_office_read(c->office, rev, &body, &meta, &c->err);
  if (rc) return cli_fail(c, rc);
  uint32_t missing = 0, total = 0;
  json_t *atts = tk_attach_public(body);
  json_object_del(body, TK_ATTACH_FIELD); /* keys stay inside */
  if (cli_chunks_missing(c, rev, &missing, &total) != 0) missing = total = 0;
  if (c->json) {
    json_t *j = meta_json(&meta), *hj = json_array();
    for (size_t i = 0; i < nheads; i++)
      json_array_append_new(hj, hex_json(heads[i], TK_REV_ID_LEN));
    json_object_set_new(j, "heads", hj);
    json_object_set_new(j, "deleted", json_boolean(tk_body_is_tombstone(body)));
    json_object_set(j, "body", body);
    json_object_set_new(j, "attachments", atts ? atts : json_array());
    json_object_set_new(j, "incomplete", json_boolean(missing > 0));
    json_object_set_new(j, "refused", json_integer(refused));
    cli_print_json(j);
    json_decref(j);
  } else {
    cli_print_json(body);
    if (tk_body_is_tombstone(body))
      fprintf(stderr, "tunduk: note: this record is deleted\n");
    size_t i;
    json_t *a;
    json_array_foreach(atts, i, a)
        fprintf(stderr, "tunduk: attachment: %s (%lld bytes)\n",
                json_string_value(json_object_get(a, "name")),
                (long long)json_integer_value(json_object_get(a, "size")));
    json_decref(atts);
  }
  if (missing > 0)
    fprintf(stderr,
            "tunduk: note: attachments incomplete: %u of %u chunks have not arrived yet "
            "(sync again)\n",
            missing, total);
  if (nheads > 1 && !c->rev)
    fprintf(stderr,
            "tunduk: note: record has %zu conflicting heads; showing the winner\n",
            nheads);
  if (refused || not_winner)
    fprintf(stderr,
            "tunduk: warning: %u revision%s of this record %s kept aside: the vault's "
            "membership log does not let %s count (forged or from a non-member; see "
            "'tunduk quarantine list' and 'tunduk verify')\n",
            refused + (uint32_t)not_winner, refused + not_winner == 1 ? "" : "s",
            refused + not_winner == 1 ? "is" : "are",
            refused + not_winner == 1 ? "it" : "them");
  json_decref(body);
  return EXIT_OK;
}

int cmd_list(cli_t *c)
{
  tk_record_info_t *recs = NULL;
  size_t nrecs = 0;
  json_t *arr = c->json ? json_array() : NULL;
  int rc = cli_open(c, 1);
  if (!rc)
    rc = tk_store_records_array(tk_office_store(c->office), c->type, c->vault, 0, &recs,
                                &nrecs, &c->err);
  for (size_t i = 0; !rc && i < nrecs; i++) {
    const tk_record_info_t *r = &recs[i];
    json_t *body = NULL;
    char summary[128] = "", t[32], id[2 * TK_RECORD_ID_LEN + 1];
    int deleted = 0, readable = 1, not_winner = 0;
    uint32_t refused = 0;
    uint8_t cur[TK_REV_ID_LEN];
    tk_err_t e;
    tk_hex_encode(id, r->id, TK_RECORD_ID_LEN);
    int rrc = tk_office_current(c->office, r->id, cur, &not_winner, &refused, &e);
    if (rrc == TK_EACCESS) { /* nothing of it counts: listed as such */
      memcpy(cur, r->winner, sizeof cur);
      refused++;
    } else if (rrc) {
      rc = tk_err_set(&c->err, rrc, "record %s: %s", id, tk_err_str(&e));
      break;
    }
    refused += (uint32_t)not_winner;
    rrc =
        rrc == TK_EACCESS ? TK_EACCESS : tk_office_read(c->office, cur, &body, NULL, &e);
    if (rrc == TK_EACCESS) {
      readable = 0;
      snprintf(summary, sizeof summary, "(no revision of it counts: membership)");
    } else if (rrc == TK_ENOKEY || rrc == TK_ENOTFOUND) {
      readable = 0;
      snprintf(summary, sizeof summary, "(no key for vault %s)", r->vault);
    } else if (rrc) {
      rc = tk_err_set(&c->err, rrc, "record %s: %s", id, tk_err_str(&e));
      break;
    } else {
      deleted = tk_body_is_tombstone(body);
      cli_summary(c, r->type, body, summary, sizeof summary);
    }
    json_decref(body);
    if (deleted && !c->all) continue;
    uint32_t missing = 0, total = 0;
    rc = cli_chunks_missing(c, cur, &missing, &total);
    if (rc) break;
    cli_time(t, r->winner_hlc);
    if (arr) {
      json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:s,s:I,s:b,s:b,s:s,s:b,s:I}",
                                           "id", id, "type", r->type, "vault", r->vault,
                                           "time", t, "heads", (json_int_t)r->nheads,
                                           "deleted", deleted, "readable", readable,
                                           "summary", summary, "incomplete", missing > 0,
                                           "refused", (json_int_t)refused));
    } else {
      printf("%s  %-10s %s  %s%s%s%s%s\n", id, r->type, t, deleted ? "(deleted) " : "",
             summary, r->nheads > 1 ? "  [conflict]" : "",
             missing ? "  [attachments incomplete]" : "",
             refused ? "  [forged or refused revisions kept aside]" : "");
    }
  }
  if (!rc && arr) cli_print_json(arr);
  json_decref(arr);
  free(recs);
  return rc ? cli_fail(c, rc) : EXIT_OK;
}

typedef struct history_ctx {
  cli_t *c;
  json_t *arr;
} history_ctx_t;

static int print_revision(void *ctx, const tk_rev_meta_t *m)
{
  history_ctx_t *h = ctx;
  if (h->arr) {
    json_array_append_new(h->arr, meta_json(m));
    return 0;
  }
  char t[32], dev[16], rev[2 * TK_REV_ID_LEN + 1];
  tk_device_info_t d;
  tk_hex_encode(rev, m->id, TK_REV_ID_LEN);
  cli_time(t, m->hlc);
  cli_device_short(dev, m->author);
  int known =
      tk_store_device_get(tk_office_store(h->c->office), m->author, &d, NULL) == 0;
  printf("%.16s  gen %-3u %s  by %s%s%s%s  parents", rev, m->generation, t, dev,
         known ? " (" : "", known ? d.name : "", known ? ")" : "");
  if (!m->nparents) printf(" -");
  for (uint32_t i = 0; i < m->nparents; i++) {
    char p[2 * TK_REV_ID_LEN + 1];
    tk_hex_encode(p, m->parents[i], TK_REV_ID_LEN);
    printf(" %.16s", p);
  }
  putchar('\n');
  return 0;
}

int cmd_history(cli_t *c)
{
  uint8_t rec[TK_RECORD_ID_LEN];
  history_ctx_t h = {c, c->json ? json_array() : NULL};
  int rc = cli_open(c, 0);
  if (!rc) rc = cli_record_id(c, c->args[0], rec);
  if (!rc)
    rc = tk_store_history(tk_office_store(c->office), rec, print_revision, &h, &c->err);
  if (!rc && h.arr) cli_print_json(h.arr);
  json_decref(h.arr);
  return rc ? cli_fail(c, rc) : EXIT_OK;
}
