/*
 * cmd_status.c: `tunduk status [--json]`, what has not reached the hub
 * (tk_office_status; README, "Nothing stranded"), in words a person
 * reads, or as JSON for scripts. Exit 0 when everything written here is
 * at the hub, EXIT_STRANDED (4) when something is not (or nothing is
 * pinned), 1 on an error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static json_int_t num(const json_t *v, const char *k)
{
  return json_integer_value(json_object_get(v, k));
}

static const char *str(const json_t *v, const char *k)
{
  const char *s = json_string_value(json_object_get(v, k));
  return s ? s : "";
}

static void print_time(const char *label, json_int_t t)
{
  char when[64];
  time_t tt = (time_t)t;
  struct tm tm;
  gmtime_r(&tt, &tm);
  strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", &tm);
  long ago = (long)(time(NULL) - tt);
  if (ago < 0) ago = 0;
  if (ago < 120)
    printf("%s%s (%ld seconds ago)\n", label, when, ago);
  else if (ago < 2 * 3600)
    printf("%s%s (%ld minutes ago)\n", label, when, ago / 60);
  else
    printf("%s%s (%ld hours ago)\n", label, when, ago / 3600);
}

/* One paragraph per kind of entry that has not reached the hub. */
static void print_unsent(const json_t *unsent, const char *state, const char *title)
{
  size_t i, n = 0;
  json_t *u;
  json_array_foreach(unsent, i, u) n += !strcmp(str(u, "state"), state);
  if (!n) return;
  printf("\n%s (%zu):\n", title, n);
  json_array_foreach(unsent, i, u)
  {
    if (strcmp(str(u, "state"), state)) continue;
    printf("  revision %.16s of record %s in vault %s\n", str(u, "revision"),
           str(u, "record"), str(u, "vault"));
    printf("    why: %s\n", str(u, "reason"));
    printf("    what to do: %s\n", str(u, "todo"));
  }
}

static void print_status(const json_t *j)
{
  const json_t *hub = json_object_get(j, "hub");
  if (json_is_object(hub)) {
    printf("Hub: %s (%s) at %s\n", str(hub, "name"), str(hub, "id"), str(hub, "address"));
    if (json_is_string(json_object_get(hub, "software")))
      printf("Hub software: %s\n", str(hub, "software"));
  } else
    printf("Hub: none; this office is not enrolled (run 'tunduk enroll TOKEN')\n");
  json_t *last = json_object_get(j, "last_sync");
  if (json_is_integer(last) && json_integer_value(last) > 0)
    print_time("Last successful sync: ", json_integer_value(last));
  else
    printf("Last successful sync: never\n");
  printf("%s\n", json_is_true(json_object_get(j, "all_at_hub"))
                     ? "Everything written here has reached the hub."
                     : "Not everything written here has reached the hub yet (below).");
  size_t i;
  json_t *v;
  json_array_foreach(json_object_get(j, "vaults"), i, v)
  {
    const char *acc = str(v, "access");
    printf("\nVault %s (%s): %lld revisions here\n", str(v, "vault"),
           !strcmp(acc, "rw")  ? "this device may write"
           : !strcmp(acc, "r") ? "this device may only read"
                               : "not in the hub's access list yet",
           (long long)num(v, "revisions"));
    if (num(v, "not_yet_sent"))
      printf("  %lld not sent to the hub yet (the next sync sends them)\n",
             (long long)num(v, "not_yet_sent"));
    if (num(v, "refused"))
      printf("  %lld refused by the hub\n", (long long)num(v, "refused"));
    if (num(v, "read_only"))
      printf("  %lld not sent: this device may only read this vault\n",
             (long long)num(v, "read_only"));
    if (num(v, "held_at_hub"))
      printf("  %lld held for review at the hub\n", (long long)num(v, "held_at_hub"));
    if (num(v, "held_here"))
      printf("  %lld held for review here ('tunduk quarantine list')\n",
             (long long)num(v, "held_here"));
    if (num(v, "attachments_missing_here"))
      printf("  %lld attachment chunks not here yet (the next sync fetches them)\n",
             (long long)num(v, "attachments_missing_here"));
    if (num(v, "attachments_not_at_hub"))
      printf("  %lld attachment chunks not at the hub yet (the next sync sends them)\n",
             (long long)num(v, "attachments_not_at_hub"));
  }
  const json_t *unsent = json_object_get(j, "unsent");
  print_unsent(unsent, "refused", "Refused by the hub (offered again on every sync)");
  print_unsent(unsent, "read-only", "Not sent: this device may only read the vault");
  print_unsent(unsent, "held", "Held for review at the hub (as the hub last said)");
  json_t *held = json_object_get(j, "held_here"), *q;
  if (json_array_size(held)) {
    printf("\nHeld for review here (%zu):\n", json_array_size(held));
    json_array_foreach(held, i, q)
    {
      printf("  revision %.16s of record %s in vault %s\n", str(q, "revision"),
             str(q, "record"), str(q, "vault"));
      printf("    why: %s\n", str(q, "reason"));
    }
    printf("    what to do: 'tunduk quarantine release REV' lets one in, 'tunduk "
           "quarantine drop REV' removes it\n");
  }
}

int cmd_status(cli_t *c)
{
  json_t *j = NULL;
  int rc = cli_open(c, 0);
  if (!rc) rc = tk_office_status(c->office, &j, &c->err);
  if (rc) return cli_fail(c, rc);
  if (c->json)
    cli_print_json(j);
  else
    print_status(j);
  int all = json_is_true(json_object_get(j, "all_at_hub"));
  json_decref(j);
  return all ? EXIT_OK : EXIT_STRANDED;
}
