/*
 * cmd_sync.c: the commands that talk to the hub or deal with what syncing
 * brings: enroll, sync, vault grant, conflicts, resolve.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tk_meta.h"
#include "cli.h"
#include "tk_client.h"
#include "tk_office_plugins.h"

static void print_access(const char *access)
{
  printf("access: %s\n", access[0] ? access : "(no vaults yet)");
}

int cmd_enroll(cli_t *c)
{
  tk_token_t tok;
  tk_client_stats_t st;
  tk_client_opts_t opts;
  char have[TK_DEVICE_ID_STRLEN];
  int rc = tk_token_parse(&tok, c->args[0], &c->err);
  if (rc) {
    c->err.code = TK_EINVAL; /* bad input: exit 2, with the parser's message */
    return cli_fail(c, TK_EINVAL);
  }
  rc = cli_open(c, 0);
  if (!rc && tk_store_meta_get(tk_office_store(c->office), TK_META_HUB_ID, have,
                               sizeof have, NULL) == 0) {
    uint8_t pinned[TK_DEVICE_ID_LEN];
    if (tk_device_id_parse(pinned, have) == 0 &&
        !tk_ct_equal(pinned, tok.hub_id, TK_DEVICE_ID_LEN))
      rc = tk_err_set(
          &c->err, TK_EEXIST,
          "this office is already enrolled at hub %s; the token is for another hub",
          have);
  }
  if (!rc) rc = cli_open(c, 1);
  memset(&opts, 0, sizeof opts);
  opts.mode = TK_CLIENT_ENROLL;
  opts.token = &tok;
  if (!rc) rc = tk_client_run(c->office, &opts, &st, &c->err);
  tk_wipe(&tok, sizeof tok);
  if (rc) return cli_fail(c, rc);
  char id[TK_DEVICE_ID_STRLEN], addr[300];
  tk_store_meta_get(tk_office_store(c->office), TK_META_HUB_ID, id, sizeof id, NULL);
  tk_store_meta_get(tk_office_store(c->office), TK_META_HUB_ADDR, addr, sizeof addr,
                    NULL);
  printf("enrolled at hub %s (%s)\n", id, addr);
  print_access(st.access);
  tk_client_stats_free(&st);
  return EXIT_OK;
}

static void show_progress(void *ctx, const tk_client_stats_t *st)
{
  const struct timespec *t0 = ctx;
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  double secs =
      (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
  uint64_t recs = st->sent + st->received;
  fprintf(stderr,
          "\rsync: sent %llu, received %llu revisions, %.1f kB; attachments %.1f MB out, "
          "%.1f MB in; %.0f rev/s   ",
          (unsigned long long)st->sent, (unsigned long long)st->received,
          (double)(st->rev_bytes_out + st->rev_bytes_in) / 1000.0,
          (double)st->chunk_bytes_out / 1e6, (double)st->chunk_bytes_in / 1e6,
          secs > 0 ? (double)recs / secs : 0.0);
  fflush(stderr);
}

static json_t *rejects_json(const tk_reject_t *v, size_t n)
{
  json_t *arr = json_array();
  for (size_t i = 0; i < n; i++) {
    char hex[2 * TK_REV_ID_LEN + 1];
    tk_hex_encode(hex, v[i].id, TK_REV_ID_LEN);
    json_array_append_new(arr, json_pack("{s:s,s:i,s:s}", "id", hex, "code", v[i].code,
                                         "reason", v[i].reason));
  }
  return arr;
}

static void print_rejects(const tk_reject_t *v, size_t n, const char *held,
                          const char *other)
{
  for (size_t i = 0; i < n; i++) {
    char hex[2 * TK_REV_ID_LEN + 1];
    tk_hex_encode(hex, v[i].id, TK_REV_ID_LEN);
    printf("%s %s: %s\n", v[i].code == TK_REJECT_QUARANTINED ? held : other, hex,
           v[i].reason);
  }
}

int cmd_sync(cli_t *c)
{
  tk_client_stats_t st;
  tk_client_opts_t opts;
  struct timespec t0;
  memset(&opts, 0, sizeof opts);
  opts.mode = TK_CLIENT_SYNC;
  opts.resend = c->all;
  opts.no_resume = c->no_resume;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  if (isatty(STDERR_FILENO) && !c->json) {
    opts.progress = show_progress;
    opts.progress_ctx = &t0;
  }
  int rc = cli_open(c, 1);
  if (!rc) rc = cli_plugins(c);
  opts.plugins = c->plugins;
  if (!rc) rc = tk_client_run(c->office, &opts, &st, &c->err);
  if (opts.progress) fputc('\n', stderr);
  if (rc) {
    tk_client_stats_free(&st);
    return cli_fail(c, rc);
  }
  uint32_t new_conflicts = st.conflicts_after > st.conflicts_before
                               ? st.conflicts_after - st.conflicts_before
                               : 0;
  if (c->json) {
    json_t *j = json_pack(
        "{s:I,s:I,s:I,s:I,s:o,s:o,s:I,s:I,s:I}", "sent", (json_int_t)st.sent, "received",
        (json_int_t)st.received, "duplicates", (json_int_t)st.duplicates, "skipped",
        (json_int_t)st.skipped, "rejected", rejects_json(st.rejected, st.nrejected),
        "refused", rejects_json(st.refused, st.nrefused), "conflicts",
        (json_int_t)st.conflicts_after, "new_conflicts", (json_int_t)new_conflicts,
        "grants", (json_int_t)st.grants);
    json_object_set_new(j, "log_entries", json_integer(st.log_entries));
    json_object_set_new(j, "log_entries_refused", json_integer(st.log_refused_entries));
    json_object_set_new(j, "log_refused", json_string(st.log_refused));
    json_object_set_new(j, "rotations", json_integer(st.rotations));
    json_object_set_new(j, "bytes_out", json_integer((json_int_t)st.bytes_out));
    json_object_set_new(j, "bytes_in", json_integer((json_int_t)st.bytes_in));
    json_object_set_new(j, "rev_bytes_out", json_integer((json_int_t)st.rev_bytes_out));
    json_object_set_new(j, "rev_bytes_in", json_integer((json_int_t)st.rev_bytes_in));
    json_object_set_new(j, "chunks_sent", json_integer((json_int_t)st.chunks_sent));
    json_object_set_new(j, "chunks_received",
                        json_integer((json_int_t)st.chunks_received));
    json_object_set_new(j, "chunk_bytes_out",
                        json_integer((json_int_t)st.chunk_bytes_out));
    json_object_set_new(j, "chunk_bytes_in", json_integer((json_int_t)st.chunk_bytes_in));
    json_object_set_new(j, "chunks_refused", json_integer((json_int_t)st.chunks_refused));
    json_object_set_new(j, "round_trips", json_integer((json_int_t)st.round_trips));
    json_object_set_new(j, "tls_resumed", json_boolean(st.tls_resumed));
    json_object_set_new(j, "seconds", json_real(st.seconds));
    json_object_set_new(j, "access", json_string(st.access));
    cli_print_json(j);
    json_decref(j);
  } else {
    printf("sent %llu revisions, received %llu; %.1f kB out, %.1f kB in, %.2f s\n",
           (unsigned long long)st.sent, (unsigned long long)st.received,
           (double)st.bytes_out / 1000.0, (double)st.bytes_in / 1000.0, st.seconds);
    if (st.chunks_sent || st.chunks_received)
      printf("attachments: %llu chunks sent (%.1f MB), %llu received (%.1f MB)\n",
             (unsigned long long)st.chunks_sent, (double)st.chunk_bytes_out / 1e6,
             (unsigned long long)st.chunks_received, (double)st.chunk_bytes_in / 1e6);
    if (st.grants)
      printf("received %u vault key%s\n", st.grants, st.grants == 1 ? "" : "s");
    if (st.log_refused[0])
      printf("the hub refused this office's vault membership entries: %s\n",
             st.log_refused);
    if (st.log_refused_entries)
      printf("refused %u vault membership entr%s from the hub (they do not follow the "
             "vault's log)\n",
             st.log_refused_entries, st.log_refused_entries == 1 ? "y" : "ies");
    if (st.rotations)
      printf("rotated the key of %u vault%s (a member was revoked at the hub)\n",
             st.rotations, st.rotations == 1 ? "" : "s");
    if (st.skipped)
      printf("not sent: %llu revisions of vaults this device may not write at the hub\n",
             (unsigned long long)st.skipped);
    print_rejects(st.rejected, st.nrejected, "held for review at the hub", "rejected");
    print_rejects(st.refused, st.nrefused,
                  "held for review here (see 'tunduk quarantine list')",
                  "not accepted here");
    if (new_conflicts)
      printf("new conflicts: %u (see 'tunduk conflicts')\n", new_conflicts);
    else if (st.conflicts_after)
      printf("records in conflict: %u (see 'tunduk conflicts')\n", st.conflicts_after);
  }
  tk_client_stats_free(&st);
  return EXIT_OK;
}

/* vault grant / vault remove: one membership change through the hub. */
static int member_change(cli_t *c, int mode)
{
  uint8_t dev[TK_DEVICE_ID_LEN];
  tk_client_stats_t st;
  tk_client_opts_t opts;
  tk_vault_info_t vi;
  if (tk_device_id_parse(dev, c->args[2]) != 0)
    return cli_usage("'%s' is not a device id (52 base32 characters)", c->args[2]);
  int rc = cli_open(c, 0);
  if (!rc) {
    rc = tk_store_vault_get(tk_office_store(c->office), c->args[1], &vi, &c->err);
    if (rc == TK_ENOTFOUND) tk_err_set(&c->err, rc, "no vault '%s'", c->args[1]);
  }
  if (!rc) rc = cli_open(c, 1);
  memset(&opts, 0, sizeof opts);
  opts.mode = mode;
  opts.grant_vault = c->args[1];
  opts.grant_to = dev;
  opts.grant_reader = c->reader;
  memset(&st, 0, sizeof st);
  if (!rc) rc = tk_client_run(c->office, &opts, &st, &c->err);
  tk_client_stats_free(&st);
  return rc;
}

int cmd_vault_grant(cli_t *c)
{
  int rc = member_change(c, TK_CLIENT_GRANT);
  if (rc) return cli_fail(c, rc);
  printf("vault %s granted to %s as a %s; it can read the vault after its next sync\n",
         c->args[1], c->args[2], c->reader ? "reader" : "writer");
  return EXIT_OK;
}

int cmd_vault_remove(cli_t *c)
{
  int rc = member_change(c, TK_CLIENT_REMOVE);
  if (rc) return cli_fail(c, rc);
  printf("%s removed from vault %s; its key was rotated: the removed device cannot read "
         "what is written from now on\n",
         c->args[2], c->args[1]);
  return EXIT_OK;
}

typedef struct conflict_list {
  cli_t *c;
  json_t *arr;
} conflict_list_t;

static int print_conflict(void *ctx, const tk_record_info_t *r)
{
  conflict_list_t *l = ctx;
  uint8_t heads[TK_MAX_PARENTS][TK_REV_ID_LEN];
  size_t n = 0;
  char id[2 * TK_RECORD_ID_LEN + 1], rev[2 * TK_REV_ID_LEN + 1];
  int total = tk_store_heads(tk_office_store(l->c->office), r->id, heads, TK_MAX_PARENTS,
                             &n, &l->c->err);
  if (total < 0) return total;
  tk_hex_encode(id, r->id, TK_RECORD_ID_LEN);
  json_t *hj = json_array();
  for (size_t i = 0; i < n; i++) {
    tk_hex_encode(rev, heads[i], TK_REV_ID_LEN);
    json_array_append_new(hj, json_string(rev));
  }
  tk_hex_encode(rev, r->winner, TK_REV_ID_LEN);
  if (l->arr) {
    json_array_append_new(l->arr,
                          json_pack("{s:s,s:s,s:s,s:o,s:s}", "id", id, "type", r->type,
                                    "vault", r->vault, "heads", hj, "winner", rev));
  } else {
    printf("%s  %-10s %u heads, winner %.16s\n", id, r->type, r->nheads, rev);
    json_decref(hj);
  }
  return 0;
}

int cmd_conflicts(cli_t *c)
{
  conflict_list_t l = {c, c->json ? json_array() : NULL};
  int rc = cli_open(c, 0);
  if (!rc)
    rc = tk_store_records(tk_office_store(c->office), c->type, c->vault, 1,
                          print_conflict, &l, &c->err);
  if (!rc && l.arr) cli_print_json(l.arr);
  json_decref(l.arr);
  return rc ? cli_fail(c, rc) : EXIT_OK;
}

int cmd_resolve(cli_t *c)
{
  uint8_t rec[TK_RECORD_ID_LEN], rev[TK_REV_ID_LEN];
  tk_record_info_t ri;
  json_t *body = NULL;
  int rc = 0;
  if (c->autom && c->nargs > 1) return cli_usage("'resolve --auto' takes no body");
  if (!c->autom) rc = cli_read_body(c, c->nargs > 1 ? c->args[1] : "-", &body);
  if (!rc) rc = cli_open(c, 0);
  if (!rc) rc = cli_record_id(c, c->args[0], rec);
  if (!rc) rc = tk_store_record_info(tk_office_store(c->office), rec, &ri, &c->err);
  if (!rc && ri.nheads < 2)
    rc = tk_err_set(&c->err, TK_EINVAL, "record %s is not in conflict; use 'tunduk edit'",
                    c->args[0]);
  /* a tombstone keeps the deletion: it has no fields to check */
  if (!rc && body && !tk_body_is_tombstone(body)) rc = cli_validate(c, ri.type, body);
  if (!rc) rc = cli_open(c, 1);
  if (!rc && c->autom) {
    rc = cli_plugins(c);
    if (!rc) rc = tk_office_auto_merge(c->office, c->plugins, rec, &body, &c->err);
    if (rc == TK_EPLUGIN)
      tk_err_set(&c->err, rc, "automatic merge declined: %s; resolve by hand",
                 c->err.msg);
  }
  if (!rc)
    rc = tk_office_update(c->office, rec, body, TK_PARENTS_ALL_HEADS, rev, &c->err);
  json_decref(body);
  if (rc) return cli_fail(c, rc);
  char hex[2 * TK_REV_ID_LEN + 1];
  tk_hex_encode(hex, rev, TK_REV_ID_LEN);
  printf("%s\n", hex);
  return EXIT_OK;
}

static int print_held(void *ctx, const tk_quarantine_info_t *q)
{
  json_t *arr = ctx;
  char hex[2 * TK_REV_ID_LEN + 1], rec[2 * TK_RECORD_ID_LEN + 1],
      author[TK_DEVICE_ID_STRLEN];
  tk_hex_encode(hex, q->meta.id, TK_REV_ID_LEN);
  tk_hex_encode(rec, q->meta.record_id, TK_RECORD_ID_LEN);
  tk_device_id_format(author, q->meta.author);
  if (arr)
    json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "revision", hex,
                                         "record", rec, "type", q->meta.type, "vault",
                                         q->meta.vault, "author", author, "reason",
                                         q->reason));
  else
    printf("%.16s  record %.12s  %-10s %s  %s\n", hex, rec, q->meta.type, q->meta.vault,
           q->reason);
  return 0;
}

int cmd_quarantine(cli_t *c)
{
  const char *sub = c->args[0];
  uint8_t id[TK_REV_ID_LEN];
  int rc;
  if (!strcmp(sub, "list")) {
    if (c->nargs != 1) return cli_usage("usage: tunduk quarantine list [--json]");
    json_t *arr = c->json ? json_array() : NULL;
    rc = cli_open(c, 0);
    if (!rc)
      rc = tk_store_quarantine_list(tk_office_store(c->office), print_held, arr, &c->err);
    if (!rc && arr) cli_print_json(arr);
    json_decref(arr);
    return rc ? cli_fail(c, rc) : EXIT_OK;
  }
  if ((strcmp(sub, "release") && strcmp(sub, "drop")) || c->nargs != 2)
    return cli_usage("usage: tunduk quarantine list | release REV | drop REV");
  rc = cli_open(c, 0);
  if (!rc)
    rc = tk_store_quarantine_find(tk_office_store(c->office), c->args[1], id, &c->err);
  if (!rc && !strcmp(sub, "drop"))
    rc = tk_store_quarantine_del(tk_office_store(c->office), id, &c->err);
  if (!rc && !strcmp(sub, "release"))
    rc = tk_store_quarantine_release(tk_office_store(c->office), id, &c->err);
  if (rc) return cli_fail(c, rc);
  char hex[2 * TK_REV_ID_LEN + 1];
  tk_hex_encode(hex, id, TK_REV_ID_LEN);
  printf("%s %s\n", !strcmp(sub, "drop") ? "dropped" : "released", hex);
  return EXIT_OK;
}
