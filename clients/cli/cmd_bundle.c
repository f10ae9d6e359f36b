/*
 * cmd_bundle.c: bundle create and bundle apply, a sync carried as a file
 * (README, "Bundles by USB"); the work is the office API's
 * (tk_office_bundle_create, tk_office_bundle_apply).
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void print_result(cli_t *c, const char *what, const tk_office_bundle_result_t *r)
{
  if (c->json) {
    json_t *j = json_pack(
        "{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
        "s:f}",
        "bundle", what, "peer", r->peer, "revisions", (json_int_t)r->revisions,
        "log_entries", (json_int_t)r->log_entries, "grants", (json_int_t)r->grants,
        "chunks", (json_int_t)r->chunks, "chunk_bytes", (json_int_t)r->chunk_bytes,
        "accepted", (json_int_t)r->accepted, "duplicates", (json_int_t)r->duplicates,
        "refused", (json_int_t)r->refused, "chunks_stored", (json_int_t)r->chunks_stored,
        "acked_revs", (json_int_t)r->acked_revs, "frames", (json_int_t)r->frames,
        "file_bytes", (json_int_t)r->file_bytes, "plain_bytes",
        (json_int_t)r->plain_bytes, "seconds", r->seconds);
    if (j) {
      char *s = json_dumps(j, JSON_COMPACT);
      if (s) puts(s);
      free(s);
      json_decref(j);
    }
    return;
  }
  if (strcmp(what, "create") == 0)
    printf("bundle for %s: %llu revisions, %llu log entries, %llu grants, %llu chunks "
           "(%llu bytes); %llu bytes written\n",
           r->peer, (unsigned long long)r->revisions, (unsigned long long)r->log_entries,
           (unsigned long long)r->grants, (unsigned long long)r->chunks,
           (unsigned long long)r->chunk_bytes, (unsigned long long)r->file_bytes);
  else
    printf("bundle from %s: %llu revisions (%llu new, %llu already here, %llu refused or "
           "held), %llu of %llu chunks stored, %llu log entries taken; %.2f s\n",
           r->peer, (unsigned long long)r->revisions, (unsigned long long)r->accepted,
           (unsigned long long)r->duplicates, (unsigned long long)r->refused,
           (unsigned long long)r->chunks_stored, (unsigned long long)r->chunks,
           (unsigned long long)r->log_taken, r->seconds);
}

int cmd_bundle(cli_t *c)
{
  tk_office_bundle_result_t r;
  const char *verb = c->args[0];
  int rc;
  if (strcmp(verb, "create") == 0) {
    tk_office_bundle_opts_t o;
    if (c->nargs != 1) return cli_usage("'bundle create' takes no argument; -o FILE");
    if (!c->output) return cli_usage("'bundle create' needs -o FILE");
    if (c->ack_out) return cli_usage("--ack-out goes with 'bundle apply'");
    memset(&o, 0, sizeof o);
    o.out = c->output;
    o.to = c->for_dev;
    o.all = c->all;
    for (size_t i = 0; i < c->nvaults; i++)
      o.vaults[o.nvaults++] = c->vaults[i];
    rc = cli_open(c, 1);
    if (!rc) rc = tk_office_bundle_create(c->office, &o, &r, &c->err);
  } else if (strcmp(verb, "apply") == 0) {
    if (c->nargs != 2) return cli_usage("'bundle apply' needs FILE");
    if (c->output || c->for_dev || c->nvaults || c->all)
      return cli_usage("'bundle apply' takes only FILE and --ack-out FILE");
    rc = cli_open(c, 1);
    if (!rc) rc = tk_office_bundle_apply(c->office, c->args[1], c->ack_out, &r, &c->err);
  } else {
    return cli_usage("bundle create | apply, not '%s'", verb);
  }
  if (rc) return cli_fail(c, rc);
  print_result(c, verb, &r);
  return EXIT_OK;
}
