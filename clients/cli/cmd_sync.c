/*
 * cmd_sync.c: the commands that talk to the hub or deal with what syncing
 * brings: enroll, sync, vault grant, conflicts, resolve.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
  if (!rc && tk_store_meta_get(tk_office_store(c->office), "hub_id", have, sizeof have,
                               NULL) == 0) {
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
  tk_store_meta_get(tk_office_store(c->office), "hub_id", id, sizeof id, NULL);
  tk_store_meta_get(tk_office_store(c->office), "hub_addr", addr, sizeof addr, NULL);
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
  fprintf(
      stderr,
      "\rsync: sent %llu, received %llu revisions, %.1f kB of revisions, %.0f rev/s   ",
      (unsigned long long)st->sent, (unsigned long long)st->received,
      (double)(st->rev_bytes_out + st->rev_bytes_in) / 1000.0,
      secs > 0 ? (double)recs / secs : 0.0);
  fflush(stderr);
}

int cmd_sync(cli_t *c)
{
  tk_client_stats_t st;
  tk_client_opts_t opts;
  memset(&opts, 0, sizeof opts);
  opts.mode = TK_CLIENT_SYNC;
  opts.resend = c->all;
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  if (isatty(STDERR_FILENO) && !c->json) {
    opts.progress = show_progress;
    opts.progress_ctx = &t0;
  }
  int rc = cli_open(c, 1);
  if (!rc) rc = tk_client_run(c->office, &opts, &st, &c->err);
  if (opts.progress) fputc('\n', stderr);
  if (rc) {
    tk_client_stats_free(&st);
    return cli_fail(c, rc);
  }
  if (c->json) {
    json_t *rej = json_array();
    for (size_t i = 0; i < st.nrejected; i++) {
      char hex[2 * TK_REV_ID_LEN + 1];
      tk_hex_encode(hex, st.rejected[i].id, TK_REV_ID_LEN);
      json_array_append_new(rej, json_pack("{s:s,s:i,s:s}", "id", hex, "code",
                                           st.rejected[i].code, "reason",
                                           st.rejected[i].reason));
    }
    json_t *j = json_pack(
        "{s:I,s:I,s:I,s:I,s:o,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:s}", "sent",
        (json_int_t)st.sent, "received", (json_int_t)st.received, "duplicates",
        (json_int_t)st.duplicates, "skipped", (json_int_t)st.skipped, "rejected", rej,
        "conflicts", (json_int_t)st.conflicts_after, "new_conflicts",
        (json_int_t)(st.conflicts_after > st.conflicts_before
                         ? st.conflicts_after - st.conflicts_before
                         : 0),
        "grants", (json_int_t)st.grants, "bytes_out", (json_int_t)st.bytes_out,
        "bytes_in", (json_int_t)st.bytes_in, "rev_bytes_out",
        (json_int_t)st.rev_bytes_out, "round_trips", (json_int_t)st.round_trips,
        "seconds", st.seconds, "access", st.access);
    cli_print_json(j);
    json_decref(j);
  } else {
    printf("sent %llu revisions, received %llu, %llu already there; %.1f kB out, %.1f kB "
           "in, "
           "%.2f s\n",
           (unsigned long long)st.sent, (unsigned long long)st.received,
           (unsigned long long)st.duplicates, (double)st.bytes_out / 1000.0,
           (double)st.bytes_in / 1000.0, st.seconds);
    if (st.grants)
      printf("received %u vault key%s\n", st.grants, st.grants == 1 ? "" : "s");
    if (st.skipped)
      printf("not sent: %llu revisions of vaults this device may not write at the hub\n",
             (unsigned long long)st.skipped);
    for (size_t i = 0; i < st.nrejected; i++) {
      char hex[2 * TK_REV_ID_LEN + 1];
      tk_hex_encode(hex, st.rejected[i].id, TK_REV_ID_LEN);
      printf("%s %s: %s\n",
             st.rejected[i].code == TK_REJECT_QUARANTINED ? "held for review at the hub"
                                                          : "rejected",
             hex, st.rejected[i].reason);
    }
    if (st.conflicts_after > st.conflicts_before)
      printf("new conflicts: %u (see 'tunduk conflicts')\n",
             st.conflicts_after - st.conflicts_before);
    else if (st.conflicts_after)
      printf("records in conflict: %u (see 'tunduk conflicts')\n", st.conflicts_after);
  }
  tk_client_stats_free(&st);
  return EXIT_OK;
}

int cmd_vault_grant(cli_t *c)
{
  uint8_t to[TK_DEVICE_ID_LEN];
  tk_client_stats_t st;
  tk_client_opts_t opts;
  tk_vault_info_t vi;
  if (tk_device_id_parse(to, c->args[2]) != 0)
    return cli_usage("'%s' is not a device id (52 base32 characters)", c->args[2]);
  int rc = cli_open(c, 0);
  if (!rc) {
    rc = tk_store_vault_get(tk_office_store(c->office), c->args[1], &vi, &c->err);
    if (rc == TK_ENOTFOUND) tk_err_set(&c->err, rc, "no vault '%s'", c->args[1]);
  }
  if (!rc) rc = cli_open(c, 1);
  memset(&opts, 0, sizeof opts);
  opts.mode = TK_CLIENT_GRANT;
  opts.grant_vault = c->args[1];
  opts.grant_to = to;
  if (!rc) rc = tk_client_run(c->office, &opts, &st, &c->err);
  tk_client_stats_free(&st);
  if (rc) return cli_fail(c, rc);
  printf("vault %s granted to %s; it can read the vault after its next sync\n",
         c->args[1], c->args[2]);
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
  if (!rc && body) rc = cli_validate(c, ri.type, body);
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
