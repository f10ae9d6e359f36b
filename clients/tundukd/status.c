/*
 * status.c: `tundukd status [--json]`: asks the hub serving a home through
 * its control socket (tk_hub_control_ask) and prints its answer, as the
 * hub's JSON object with "running" added, or as text for an admin. No
 * passphrase is needed and nothing is opened but the socket: the hub says
 * what it knows. Like `systemctl status`, it exits 3 when no hub runs.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tk_hub_status.h"
#include "tundukd.h"

static const char *human_bytes(char *out, size_t cap, json_int_t n)
{
  static const char *const unit[] = {"KiB", "MiB", "GiB", "TiB"};
  if (n < 1024) {
    snprintf(out, cap, "%lld B", (long long)n);
    return out;
  }
  double v = (double)n;
  int u = -1;
  while (v >= 1024 && u < 3) {
    v /= 1024;
    u++;
  }
  snprintf(out, cap, "%.1f %s", v, unit[u]);
  return out;
}

static const char *human_span(char *out, size_t cap, json_int_t s)
{
  if (s < 0) s = 0;
  if (s < 60)
    snprintf(out, cap, "%llds", (long long)s);
  else if (s < 3600)
    snprintf(out, cap, "%lldm %02llds", (long long)s / 60, (long long)s % 60);
  else if (s < 86400)
    snprintf(out, cap, "%lldh %02lldm", (long long)s / 3600, (long long)s % 3600 / 60);
  else
    snprintf(out, cap, "%lldd %02lldh", (long long)s / 86400,
             (long long)s % 86400 / 3600);
  return out;
}

static const char *utc(char *out, size_t cap, json_int_t t)
{
  time_t tt = (time_t)t;
  struct tm tm;
  gmtime_r(&tt, &tm);
  strftime(out, cap, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return out;
}

static json_int_t num(const json_t *o, const char *path)
{
  char key[64];
  const json_t *v = o;
  while (v && *path) {
    size_t n = strcspn(path, ".");
    snprintf(key, sizeof key, "%.*s", (int)n, path);
    v = json_object_get(v, key);
    path += n + (path[n] == '.');
  }
  return json_integer_value(v);
}

static void print_moved(const char *what, const json_t *c)
{
  char rb[32], cb[32];
  printf("%s %lld revision%s (%s), %lld chunk%s (%s)", what,
         (long long)num(c, "revisions"), num(c, "revisions") == 1 ? "" : "s",
         human_bytes(rb, sizeof rb, num(c, "revision_bytes")),
         (long long)num(c, "chunks"), num(c, "chunks") == 1 ? "" : "s",
         human_bytes(cb, sizeof cb, num(c, "chunk_bytes")));
}

static void print_text(const json_t *j)
{
  char a[64], b[64], c[64];
  json_int_t now = num(j, "now");
  const char *metrics = json_string_value(json_object_get(j, "metrics"));
  printf("tundukd %s serving %s: running (pid %lld) for %s, since %s\n",
         json_string_value(json_object_get(j, "version")),
         json_string_value(json_object_get(j, "home")), (long long)num(j, "pid"),
         human_span(a, sizeof a, num(j, "uptime_s")),
         utc(b, sizeof b, num(j, "started")));
  printf("  hub id       %s\n", json_string_value(json_object_get(j, "hub_id")));
  printf("  listening    %s; metrics %s%s\n",
         json_string_value(json_object_get(j, "listen")), metrics ? "on http://" : "off",
         metrics ? metrics : "");
  printf("  connections  %lld open (%lld authenticated, at most %lld), %lld since the "
         "start; %lld syncs\n",
         (long long)num(j, "connections.now"),
         (long long)num(j, "connections.authenticated"),
         (long long)num(j, "connections.max"), (long long)num(j, "connections.total"),
         (long long)num(j, "syncs"));
  if (json_object_get(j, "store"))
    printf(
        "  store        %s on disk (%s in its WAL), %lld revisions; %lld attachment "
        "chunks (%s)\n",
        human_bytes(a, sizeof a, num(j, "store.file_bytes") + num(j, "store.wal_bytes")),
        human_bytes(b, sizeof b, num(j, "store.wal_bytes")),
        (long long)num(j, "store.revisions"), (long long)num(j, "store.chunks"),
        human_bytes(c, sizeof c, num(j, "store.chunk_bytes")));
  if (json_object_get(j, "quarantine"))
    printf("  quarantine   %lld held for review (tundukd quarantine list), %lld refused "
           "by a membership log\n",
           (long long)num(j, "quarantine.held"), (long long)num(j, "quarantine.refused"));
  const json_t *bk = json_object_get(j, "backup");
  if (json_integer_value(json_object_get(bk, "last")))
    printf("  last backup  %s, %s ago\n", utc(a, sizeof a, num(bk, "last")),
           human_span(b, sizeof b, num(bk, "age_s")));
  else if (json_object_get(bk, "unreadable"))
    printf("  last backup  unreadable time '%s'\n",
           json_string_value(json_object_get(bk, "unreadable")));
  else
    printf("  last backup  none recorded (tundukd backup)\n");
  const json_t *devs = json_object_get(j, "devices"), *d;
  size_t i;
  printf("devices (%zu):\n", json_array_size(devs));
  json_array_foreach(devs, i, d)
  {
    json_int_t seen = num(d, "last_seen"), conn = num(d, "connected");
    printf("  %s  %s%s\n", json_string_value(json_object_get(d, "name")),
           json_string_value(json_object_get(d, "id")),
           json_is_true(json_object_get(d, "revoked")) ? "  REVOKED" : "");
    if (conn)
      printf("      connected now (%lld connection%s)\n", (long long)conn,
             conn == 1 ? "" : "s");
    else if (seen)
      printf("      last seen %s, %s ago\n", utc(a, sizeof a, seen),
             human_span(b, sizeof b, now - seen));
    else
      printf("      never seen\n");
    const json_t *ls = json_object_get(d, "last_session");
    if (json_is_object(ls)) {
      printf("      %s: ", json_is_null(json_object_get(ls, "end"))
                               ? "this session so far"
                               : "last session");
      print_moved("pushed", json_object_get(ls, "pushed"));
      printf("; ");
      print_moved("pulled", json_object_get(ls, "pulled"));
      if (num(ls, "rejected")) printf("; %lld refused", (long long)num(ls, "rejected"));
      printf("\n");
    }
  }
  const json_t *errors = json_object_get(j, "errors"), *e;
  json_array_foreach(errors, i, e) printf("  not known: %s\n", json_string_value(e));
}

int tundukd_status(const char *home, int json)
{
  char *answer = NULL;
  tk_err_t err;
  memset(&err, 0, sizeof err);
  int rc = tk_hub_control_ask(home, "status", &answer, &err);
  if (rc == TK_ENOTFOUND || rc == TK_ECLOSED) {
    fprintf(stderr, "tundukd: %s; start it with 'tundukd --home %s serve'\n",
            tk_err_str(&err), home);
    if (json) {
      json_t *o = json_pack("{s:b,s:s,s:s}", "running", 0, "home", home, "message",
                            tk_err_str(&err));
      char *s = o ? json_dumps(o, JSON_INDENT(2)) : NULL;
      if (s) puts(s);
      free(s);
      json_decref(o);
    }
    return 3;
  }
  if (rc) {
    fprintf(stderr, "tundukd: cannot ask the hub: %s\n", tk_err_str(&err));
    return 1;
  }
  json_error_t je;
  json_t *j = json_loads(answer, 0, &je);
  free(answer);
  if (!json_is_object(j)) {
    fprintf(stderr, "tundukd: the hub's answer is not a JSON object: %s\n", je.text);
    json_decref(j);
    return 1;
  }
  const char *e = json_string_value(json_object_get(j, "error"));
  if (e) {
    fprintf(stderr, "tundukd: the hub refused: %s\n", e);
    json_decref(j);
    return 1;
  }
  json_object_set_new(j, "running", json_true());
  if (json) {
    char *s = json_dumps(j, JSON_INDENT(2));
    if (s) puts(s);
    free(s);
  } else {
    print_text(j);
  }
  json_decref(j);
  return 0;
}
