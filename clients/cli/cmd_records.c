/*
 * cmd_records.c: the record commands: new, edit, delete, show, list,
 * history. Input is parsed here; every check of it happens in the office
 * (tk_office.h) before the passphrase is asked and before anything is
 * written, so bad input changes nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_fail_problems(cli_t *c, int rc, const tk_office_problems_t *p)
{
  if (rc != TK_EINVAL || c->err.code != rc || p->n == 0) {
    if (c->json && rc) { /* a script reads why from stdout too */
      json_t *j = json_pack("{s:s,s:[]}", "error", c->err.msg, "problems");
      if (j) cli_print_json(j);
      json_decref(j);
    }
    return cli_fail(c, rc);
  }
  /* err is "<type> record invalid: <first problem>": the prefix of each */
  size_t kept = p->n < TK_OFFICE_MAX_PROBLEMS ? p->n : TK_OFFICE_MAX_PROBLEMS;
  size_t ml = strlen(c->err.msg), fl = strlen(p->v[0].message);
  int pre =
      ml >= fl && strcmp(c->err.msg + ml - fl, p->v[0].message) == 0 ? (int)(ml - fl) : 0;
  for (size_t i = 0; i < kept; i++)
    fprintf(stderr, "tunduk: %.*s%s\n", pre, c->err.msg, p->v[i].message);
  if (p->n > kept)
    fprintf(stderr, "tunduk: %.*s%zu more problems not shown\n", pre, c->err.msg,
            p->n - kept);
  if (c->json) {
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < kept; i++)
      json_array_append_new(arr, json_pack("{s:s,s:s}", "field", p->v[i].field, "message",
                                           p->v[i].message));
    json_t *j = json_pack("{s:s,s:o,s:I}", "error", c->err.msg, "problems", arr,
                          "problems_count", (json_int_t)p->n);
    if (j) cli_print_json(j);
    json_decref(j);
  }
  return EXIT_USAGE;
}

int cmd_new(cli_t *c)
{
  json_t *body = NULL;
  char rec[2 * TK_RECORD_ID_LEN + 1], rev[2 * TK_REV_ID_LEN + 1];
  tk_office_problems_t p;
  p.n = 0;
  if (!c->vault) return cli_usage("'new' needs --vault V");
  int rc = tk_office_name_check("type", c->args[0], &c->err);
  if (!rc) rc = cli_read_body(c, c->nargs > 1 ? c->args[1] : "-", &body);
  if (!rc) rc = cli_open(c, 0);
  if (!rc)
    rc = tk_office_record_new_rev(c->office, c->args[0], c->vault, body, &p, rec, rev,
                                  &c->err);
  json_decref(body);
  if (rc) return cli_fail_problems(c, rc, &p);
  if (c->json) {
    json_t *j = json_pack("{s:s,s:s}", "record", rec, "revision", rev);
    if (j) cli_print_json(j);
    json_decref(j);
  } else {
    printf("%s\n", rec); /* just the id: scripts read it */
  }
  return EXIT_OK;
}

/* edit (body) or delete (body NULL), and the note about other heads. */
static int write_revision(cli_t *c, const json_t *body)
{
  char rev[2 * TK_REV_ID_LEN + 1];
  uint32_t nheads = 0;
  tk_office_problems_t p;
  p.n = 0;
  int rc = cli_open(c, 0);
  if (!rc && body && c->undelete)
    rc =
        tk_office_record_undelete(c->office, c->args[0], body, &p, rev, &nheads, &c->err);
  else if (!rc && body)
    rc = tk_office_record_edit(c->office, c->args[0], body, &p, rev, &nheads, &c->err);
  else if (!rc)
    rc = tk_office_record_delete(c->office, c->args[0], rev, &nheads, &c->err);
  if (rc) return cli_fail_problems(c, rc, &p);
  if (nheads > 1)
    fprintf(stderr,
            "tunduk: note: the record had %u conflicting heads; this revision follows "
            "the winner and the others remain\n",
            nheads);
  printf("%s\n", rev);
  return EXIT_OK;
}

int cmd_edit(cli_t *c)
{
  json_t *body = NULL;
  int rc = cli_read_body(c, c->nargs > 1 ? c->args[1] : "-", &body);
  if (rc) return cli_fail(c, rc);
  int code = write_revision(c, body);
  json_decref(body);
  return code;
}

int cmd_delete(cli_t *c)
{
  return write_revision(c, NULL);
}

static void show_notes(cli_t *c, const tk_office_view_t *v)
{
  if (!c->json) {
    size_t i;
    json_t *a;
    if (v->deleted) fprintf(stderr, "tunduk: note: this record is deleted\n");
    json_array_foreach(v->attachments, i, a)
        fprintf(stderr, "tunduk: attachment: %s (%lld bytes)\n",
                json_string_value(json_object_get(a, "name")),
                (long long)json_integer_value(json_object_get(a, "size")));
  }
  if (v->chunks_missing > 0)
    fprintf(stderr,
            "tunduk: note: attachments incomplete: %u of %u chunks have not arrived yet "
            "(sync again)\n",
            v->chunks_missing, v->chunks_total);
  if (v->nheads > 1 && !c->rev)
    fprintf(stderr,
            "tunduk: note: record has %zu conflicting heads; showing the winner\n",
            v->nheads);
  uint32_t aside = v->refused + (uint32_t)v->not_winner;
  if (aside)
    fprintf(stderr,
            "tunduk: warning: %u revision%s of this record %s kept aside: the vault's "
            "membership log does not let %s count (forged or from a non-member; see "
            "'tunduk quarantine list' and 'tunduk verify')\n",
            aside, aside == 1 ? "" : "s", aside == 1 ? "is" : "are",
            aside == 1 ? "it" : "them");
}

int cmd_show(cli_t *c)
{
  tk_office_view_t v;
  int rc = cli_open(c, 0);
  if (!rc) rc = tk_office_record_show(c->office, c->args[0], c->rev, &v, &c->err);
  if (rc) return cli_fail(c, rc);
  if (c->json) {
    json_t *j = v.meta; /* freed with v */
    json_object_set(j, "heads", v.heads);
    json_object_set_new(j, "deleted", json_boolean(v.deleted));
    json_object_set(j, "body", v.body);
    json_object_set(j, "attachments", v.attachments);
    json_object_set_new(j, "incomplete", json_boolean(v.chunks_missing > 0));
    json_object_set_new(j, "refused", json_integer(v.refused));
    cli_print_json(j);
  } else {
    cli_print_json(v.body);
  }
  show_notes(c, &v);
  tk_office_view_free(&v);
  return EXIT_OK;
}

static int list_one(void *ctx, const tk_office_listing_t *l)
{
  json_t *arr = ctx;
  char t[32];
  tk_office_time_format(t, l->hlc);
  if (arr)
    json_array_append_new(
        arr, json_pack("{s:s,s:s,s:s,s:s,s:I,s:b,s:b,s:s,s:b,s:I,s:s}", "id", l->id,
                       "type", l->type, "vault", l->vault, "time", t, "heads",
                       (json_int_t)l->nheads, "deleted", l->deleted, "readable",
                       l->readable, "summary", l->summary, "incomplete", l->incomplete,
                       "refused", (json_int_t)l->refused, "winner", l->winner));
  else
    printf("%s  %-10s %s  %s%s%s%s%s\n", l->id, l->type, t,
           l->deleted ? "(deleted) " : "", l->summary,
           l->nheads > 1 ? "  [conflict]" : "",
           l->incomplete ? "  [attachments incomplete]" : "",
           l->refused ? "  [forged or refused revisions kept aside]" : "");
  return 0;
}

int cmd_list(cli_t *c)
{
  json_t *arr = c->json ? json_array() : NULL;
  int rc = cli_open(c, 1);
  if (!rc)
    rc = tk_office_list(c->office, c->type, c->vault, c->all, list_one, arr, &c->err);
  if (!rc && arr) cli_print_json(arr);
  json_decref(arr);
  return rc ? cli_fail(c, rc) : EXIT_OK;
}

static int print_revision(void *ctx, const tk_office_history_entry_t *h)
{
  json_t *arr = ctx;
  if (arr) return json_array_append(arr, (json_t *)h->meta) ? TK_ENOMEM : 0;
  char dev[16];
  const json_t *m = h->meta;
  cli_device_short(dev, json_string_value(json_object_get(m, "author")));
  printf("%.16s  gen %-3u %s  by %s%s%s%s  parents",
         json_string_value(json_object_get(m, "revision")),
         (unsigned)json_integer_value(json_object_get(m, "generation")),
         json_string_value(json_object_get(m, "time")), dev, h->author_known ? " (" : "",
         h->author_name, h->author_known ? ")" : "");
  const json_t *parents = json_object_get(m, "parents");
  if (!json_array_size(parents)) printf(" -");
  for (size_t i = 0; i < json_array_size(parents); i++)
    printf(" %.16s", json_string_value(json_array_get(parents, i)));
  putchar('\n');
  return 0;
}

int cmd_history(cli_t *c)
{
  json_t *arr = c->json ? json_array() : NULL;
  int rc = cli_open(c, 0);
  if (!rc) rc = tk_office_history(c->office, c->args[0], print_revision, arr, &c->err);
  if (!rc && arr) cli_print_json(arr);
  json_decref(arr);
  return rc ? cli_fail(c, rc) : EXIT_OK;
}
