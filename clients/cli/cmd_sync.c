/*
 * cmd_sync.c: the commands that talk to the hub or deal with what syncing
 * brings: enroll, sync, vault grant, conflicts, resolve.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static void print_access(const char *access)
{
  printf("access: %s\n", access[0] ? access : "(no vaults yet)");
}

/* enroll --move: the person says yes (a terminal), or --yes did; else
 * EXIT_USAGE with how. */
static int confirm_move(cli_t *c)
{
  json_t *st = NULL;
  char line[16];
  if (c->yes) return 0;
  if (!isatty(STDIN_FILENO))
    return cli_usage("'enroll --move' re-pins this office to another hub; not on a "
                     "terminal, confirm with --yes");
  int rc = cli_open(c, 0);
  if (!rc) rc = tk_office_status(c->office, &st, &c->err);
  if (rc) return cli_fail(c, rc);
  const json_t *hub = json_object_get(st, "hub");
  if (json_is_object(hub))
    fprintf(stderr,
            "This office is enrolled at hub %s (%s).\nMoving it to the hub of this token "
            "keeps every record here and offers all of them to the new hub at the next "
            "sync; it will not sync with the old hub again.\nType yes to move: ",
            json_string_value(json_object_get(hub, "id")),
            json_string_value(json_object_get(hub, "address")));
  else
    fprintf(stderr, "This office is not enrolled yet. Type yes to enroll: ");
  json_decref(st);
  fflush(stderr);
  if (!fgets(line, sizeof line, stdin) || strcmp(line, "yes\n") != 0) {
    fprintf(stderr, "tunduk: not moved (the answer was not 'yes')\n");
    return EXIT_FAIL;
  }
  return 0;
}

int cmd_enroll(cli_t *c)
{
  tk_office_sync_result_t r;
  if (c->yes && !c->move) return cli_usage("--yes goes with 'enroll --move'");
  int rc = tk_office_token_check(c->args[0], &c->err);
  if (rc) return cli_fail(c, TK_EINVAL); /* bad input: exit 2, the parser's message */
  if (c->move && (rc = confirm_move(c)) != 0) return rc;
  rc = cli_open(c, 0);
  if (!rc)
    rc = c->move ? tk_office_enroll_move(c->office, c->args[0], &r, &c->err)
                 : tk_office_enroll(c->office, c->args[0], &r, &c->err);
  if (rc) return cli_fail(c, rc);
  printf("enrolled at hub %s (%s)\n", r.hub_id, r.hub_addr);
  if (c->move) printf("the next sync offers every record here to this hub\n");
  print_access(r.access);
  tk_office_sync_result_free(&r);
  return EXIT_OK;
}

static void show_progress(void *ctx, const tk_office_sync_result_t *st)
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

static void print_rejects(const tk_office_reject_t *v, size_t n, const char *held,
                          const char *other)
{
  for (size_t i = 0; i < n; i++) {
    char hex[2 * TK_REV_ID_LEN + 1];
    tk_hex_encode(hex, v[i].id, TK_REV_ID_LEN);
    printf("%s %s: %s\n", v[i].held ? held : other, hex, v[i].reason);
  }
}

/* --timeout SECONDS: a whole number from 1 to 3600. */
static int parse_timeout(const char *s, uint32_t *out)
{
  char *end;
  if (!s || *s < '0' || *s > '9') return -1;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (errno || *end || v < 1 || v > TK_OFFICE_SYNC_TIMEOUT_MAX) return -1;
  *out = (uint32_t)v;
  return 0;
}

int cmd_sync(cli_t *c)
{
  tk_office_sync_result_t st;
  tk_office_sync_opts_t opts;
  struct timespec t0;
  memset(&opts, 0, sizeof opts);
  if (c->timeout && parse_timeout(c->timeout, &opts.timeout_s) != 0)
    return cli_usage("--timeout takes whole seconds from 1 to %u, not '%s'",
                     TK_OFFICE_SYNC_TIMEOUT_MAX, c->timeout);
  opts.resend = c->all;
  opts.no_resume = c->no_resume;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  if (isatty(STDERR_FILENO) && !c->json) {
    opts.progress = show_progress;
    opts.progress_ctx = &t0;
  }
  int rc = cli_open(c, 1);
  if (!rc) rc = tk_office_sync(c->office, &opts, &st, &c->err);
  if (opts.progress) fputc('\n', stderr);
  if (rc) {
    int code = cli_fail(c, rc);
    if (c->json) { /* scripts get an object whatever happened */
      json_t *j = json_pack("{s:s,s:i}", "error", tk_err_str(&c->err), "code", code);
      cli_print_json(j);
      json_decref(j);
    }
    return code;
  }
  size_t stranded = tk_office_sync_stranded(&st), i;
  json_t *u;
  uint32_t new_conflicts = st.conflicts_after > st.conflicts_before
                               ? st.conflicts_after - st.conflicts_before
                               : 0;
  if (c->json) {
    json_t *j = tk_office_sync_result_json(&st);
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
    if (st.released_here)
      printf("let in %u revision%s this office's rules held back before and take now\n",
             st.released_here, st.released_here == 1 ? "" : "s");
    if (st.hub_restored)
      printf("the hub's store was restored or replaced since the last sync: every "
             "record was offered to it again\n");
    if (st.plugin_set.status != TK_OFFICE_SET_NONE &&
        st.plugin_set.status != TK_OFFICE_SET_CURRENT)
      printf("%s\n", st.plugin_set.message);
  }
  /* what has not reached the hub, named (README, "Nothing stranded") */
  json_array_foreach(st.unsent, i, u)
  {
    const char *state = json_string_value(json_object_get(u, "state"));
    if (!strcmp(state, "held")) continue;
    fprintf(stderr,
            "tunduk: not at the hub (%s): revision %s of record %s in vault %s: %s\n",
            state, json_string_value(json_object_get(u, "revision")),
            json_string_value(json_object_get(u, "record")),
            json_string_value(json_object_get(u, "vault")),
            json_string_value(json_object_get(u, "reason")));
  }
  if (stranded)
    fprintf(stderr,
            "tunduk: %zu revision%s of this office %s not reached the hub; each sync "
            "offers %s again (see 'tunduk status')\n",
            stranded, stranded == 1 ? "" : "s", stranded == 1 ? "has" : "have",
            stranded == 1 ? "it" : "them");
  tk_office_sync_result_free(&st);
  return stranded ? EXIT_STRANDED : EXIT_OK;
}

/* vault grant / vault remove: one membership change through the hub. */
static int member_change(cli_t *c, int grant)
{
  int rc = tk_office_device_id_check(c->args[2], &c->err);
  if (!rc) rc = cli_open(c, 0);
  if (rc) return cli_fail(c, rc);
  rc = grant ? tk_office_grant(c->office, c->args[1], c->args[2], c->reader, &c->err)
             : tk_office_revoke(c->office, c->args[1], c->args[2], &c->err);
  return rc ? cli_fail(c, rc) : EXIT_OK;
}

int cmd_vault_grant(cli_t *c)
{
  int code = member_change(c, 1);
  if (code) return code;
  printf("vault %s granted to %s as a %s; it can read the vault after its next sync\n",
         c->args[1], c->args[2], c->reader ? "reader" : "writer");
  return EXIT_OK;
}

int cmd_vault_remove(cli_t *c)
{
  int code = member_change(c, 0);
  if (code) return code;
  printf("%s removed from vault %s; its key was rotated: the removed device cannot read "
         "what is written from now on\n",
         c->args[2], c->args[1]);
  return EXIT_OK;
}

static int print_conflict(void *ctx, const tk_office_conflict_t *r)
{
  json_t *arr = ctx;
  if (arr)
    json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:O,s:s}", "id", r->id, "type",
                                         r->type, "vault", r->vault, "heads", r->heads,
                                         "winner", r->winner));
  else
    printf("%s  %-10s %u heads, winner %.16s\n", r->id, r->type, r->nheads, r->winner);
  return 0;
}

int cmd_conflicts(cli_t *c)
{
  json_t *arr = c->json ? json_array() : NULL;
  int rc = cli_open(c, 0);
  if (!rc)
    rc = tk_office_conflicts(c->office, c->type, c->vault, print_conflict, arr, &c->err);
  if (!rc && arr) cli_print_json(arr);
  json_decref(arr);
  return rc ? cli_fail(c, rc) : EXIT_OK;
}

int cmd_resolve(cli_t *c)
{
  char rev[2 * TK_REV_ID_LEN + 1];
  json_t *body = NULL;
  tk_office_problems_t p;
  int rc = 0;
  p.n = 0;
  if (c->autom && c->nargs > 1) return cli_usage("'resolve --auto' takes no body");
  if (!c->autom) rc = cli_read_body(c, c->nargs > 1 ? c->args[1] : "-", &body);
  if (!rc) rc = cli_open(c, 0);
  if (!rc) rc = tk_office_record_resolve(c->office, c->args[0], body, &p, rev, &c->err);
  json_decref(body);
  if (rc) return cli_fail_problems(c, rc, &p);
  printf("%s\n", rev);
  return EXIT_OK;
}

int cmd_quarantine(cli_t *c)
{
  const char *sub = c->args[0];
  char rev[2 * TK_REV_ID_LEN + 1];
  int rc;
  if (!strcmp(sub, "list")) {
    if (c->nargs != 1) return cli_usage("usage: tunduk quarantine list [--json]");
    json_t *list = NULL, *q;
    size_t i;
    rc = cli_open(c, 0);
    if (!rc) rc = tk_office_quarantine_list(c->office, &list, &c->err);
    if (rc) return cli_fail(c, rc);
    if (c->json) cli_print_json(list);
    json_array_foreach(list, i, q) if (!c->json)
        printf("%.16s  record %.12s  %-10s %s  %s\n",
               json_string_value(json_object_get(q, "revision")),
               json_string_value(json_object_get(q, "record")),
               json_string_value(json_object_get(q, "type")),
               json_string_value(json_object_get(q, "vault")),
               json_string_value(json_object_get(q, "reason")));
    json_decref(list);
    return EXIT_OK;
  }
  if ((strcmp(sub, "release") && strcmp(sub, "drop")) || c->nargs != 2)
    return cli_usage("usage: tunduk quarantine list | release REV | drop REV");
  rc = cli_open(c, 0);
  if (!rc && !strcmp(sub, "drop"))
    rc = tk_office_quarantine_drop(c->office, c->args[1], rev, &c->err);
  else if (!rc)
    rc = tk_office_quarantine_release(c->office, c->args[1], rev, &c->err);
  if (rc) return cli_fail(c, rc);
  printf("%s %s\n", !strcmp(sub, "drop") ? "dropped" : "released", rev);
  return EXIT_OK;
}
