/*
 * hub_status.c: what the running hub counts, for `tundukd status` (the
 * status object, asked through the control socket: hub_control.c) and for
 * its metrics (Prometheus text, served by tundukd when configured). The
 * counters live in one struct, hub_status_t, changed only by the calls of
 * hub_status.h where the events happen; nothing here is on a hot path but
 * a few additions.
 *
 * Devices: each device that authenticated since the start has an entry
 * with when it was last seen and what it moved in its last session
 * (revisions and their bytes, chunks and their bytes, each way, and the
 * revisions refused). last_seen is also written to the store (schema 10,
 * devices.last_seen) at the start and the end of every session: the
 * devices seen since the last write go in one store-thread job, one at a
 * time, so a thousand offices connecting at once cost a few transactions,
 * not a thousand. A hub without a loop (tests, fuzzing) keeps them in
 * memory only. What a device's last session moved is in memory only: a
 * restart forgets it.
 *
 * Threads: the loop's (hub_status.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hub_internal.h"
#include "tk_meta.h"
#include "tk_token.h"

/* Upper bounds of the commit latency histogram, seconds. */
static const double commit_le[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                   0.1,    0.25,  0.5,    1,     2.5,  5,     10};
#define NBUCKETS (sizeof commit_le / sizeof commit_le[0])
static const char *const commit_kind[TK__COMMIT_NKINDS] = {"other", "revisions", "chunk"};
/* The rejection codes' labels (TK_REJECT_*; tunduk.proto RejectCode). */
static const char *const reject_reason[] = {
    "other",  "malformed", "hash",       "signature",   "access",
    "parent", "internal",  "moderation", "quarantined", "limit"};
#define NREASONS (sizeof reject_reason / sizeof reject_reason[0])

typedef struct hub_dev {
  uint8_t id[TK_DEVICE_ID_LEN];
  int64_t last_seen;
  int dirty; /* last_seen not written to the store yet */
  int has_last;
  int64_t last_start, last_end;
  tk__hub_counts_t last;
} hub_dev_t;

typedef struct hub_status {
  int64_t started;     /* unix seconds */
  uint64_t started_ns; /* uv_hrtime() then */
  char listen[96];
  char metrics[96]; /* "" off */
  uint64_t conn_total, syncs;
  tk__hub_counts_t in;         /* what came in (the in_* fields), all sessions */
  tk__hub_counts_t closed_out; /* what went out (out_* fields), sessions that ended */
  uint64_t wire_in, wire_out;  /* socket bytes of connections that ended */
  uint64_t rejected[NREASONS];
  uint64_t plugin_calls, plugin_timeouts;
  struct {
    uint64_t bucket[NBUCKETS]; /* not cumulative here */
    uint64_t count, sum_ns;
  } commit[TK__COMMIT_NKINDS];
  hub_dev_t *devs;
  size_t ndevs, capdevs;
  int flushing; /* a last_seen write is out */
} hub_status_t;

int tk__hub_status_new(tk_hub_t *h, tk_err_t *err)
{
  hub_status_t *st = calloc(1, sizeof *st);
  if (!st) return tk_err_set(err, TK_ENOMEM, "out of memory for the hub's counters");
  st->started = (int64_t)time(NULL);
  st->started_ns = uv_hrtime();
  h->status = st;
  return 0;
}

void tk__hub_status_free(tk_hub_t *h)
{
  if (!h->status) return;
  free(h->status->devs);
  free(h->status);
  h->status = NULL;
}

void tk__hub_status_listening(tk_hub_t *h, const char *addr)
{
  snprintf(h->status->listen, sizeof h->status->listen, "%s", addr);
}

void tk_hub_set_metrics_addr(tk_hub_t *h, const char *addr)
{
  snprintf(h->status->metrics, sizeof h->status->metrics, "%s", addr ? addr : "");
}

void tk__hub_status_accepted(tk_hub_t *h)
{
  h->status->conn_total++;
}

/* The entry of device id (made if create and missing); NULL if none or
 * out of memory (then the device is simply not shown as seen). */
static hub_dev_t *dev_get(hub_status_t *st, const uint8_t id[TK_DEVICE_ID_LEN],
                          int create)
{
  for (size_t i = 0; i < st->ndevs; i++)
    if (memcmp(st->devs[i].id, id, TK_DEVICE_ID_LEN) == 0) return &st->devs[i];
  if (!create) return NULL;
  if (st->ndevs == st->capdevs) {
    size_t cap = st->capdevs ? 2 * st->capdevs : 16;
    hub_dev_t *v = realloc(st->devs, cap * sizeof *v);
    if (!v) return NULL;
    st->devs = v;
    st->capdevs = cap;
  }
  hub_dev_t *d = &st->devs[st->ndevs++];
  memset(d, 0, sizeof *d);
  memcpy(d->id, id, TK_DEVICE_ID_LEN);
  return d;
}

/* ---- last_seen in the store ---------------------------------------------- */

typedef struct seen_job {
  tk_store_job_t job;
  tk_hub_t *hub;
  size_t n;
  struct seen_row {
    uint8_t id[TK_DEVICE_ID_LEN];
    int64_t when;
  } * rows;
} seen_job_t;

static void flush(tk_hub_t *h, int force);

/* Store thread: every row in one transaction. */
static int seen_work(tk_store_job_t *job, tk_store_t *s, tk_err_t *err)
{
  seen_job_t *j = (seen_job_t *)job;
  int rc = tk_store_begin(s, err);
  for (size_t i = 0; !rc && i < j->n; i++)
    rc = tk_store_device_seen(s, j->rows[i].id, j->rows[i].when, err);
  if (!rc) rc = tk_store_commit(s, err);
  if (rc) tk_store_rollback(s);
  return rc;
}

static void seen_done(tk_store_job_t *job, int rc, const tk_err_t *err)
{
  seen_job_t *j = (seen_job_t *)job;
  tk_hub_t *h = j->hub;
  if (rc) TK_LOG(TK_LOG_WARN, "hub", "last seen times not stored: %s", tk_err_str(err));
  free(j->rows);
  free(j);
  h->status->flushing = 0;
  flush(h, 0); /* what was seen meanwhile */
}

/* Writes the dirty entries' last_seen in one job, unless one is out
 * (force: also then; tk_hub_stop's last chance). */
static void flush(tk_hub_t *h, int force)
{
  hub_status_t *st = h->status;
  size_t n = 0;
  if (!h->loop || !h->sthread || (st->flushing && !force)) return;
  for (size_t i = 0; i < st->ndevs; i++)
    n += st->devs[i].dirty;
  if (n == 0) return;
  seen_job_t *j = calloc(1, sizeof *j);
  if (j) j->rows = calloc(n, sizeof *j->rows);
  if (!j || !j->rows) {
    if (j) free(j);
    return; /* kept dirty: the next event tries again */
  }
  for (size_t i = 0; i < st->ndevs; i++) {
    if (!st->devs[i].dirty) continue;
    memcpy(j->rows[j->n].id, st->devs[i].id, TK_DEVICE_ID_LEN);
    j->rows[j->n++].when = st->devs[i].last_seen;
  }
  j->hub = h;
  tk_err_t e;
  if (tk_store_thread_submit(h->sthread, &j->job, seen_work, seen_done, &e) != 0) {
    free(j->rows); /* stopping: in memory only from here */
    free(j);
    return;
  }
  for (size_t i = 0; i < st->ndevs; i++)
    st->devs[i].dirty = 0;
  st->flushing = 1;
}

static void seen(tk_hub_t *h, const uint8_t id[TK_DEVICE_ID_LEN], int64_t now)
{
  hub_dev_t *d = dev_get(h->status, id, 1);
  if (!d) return;
  d->last_seen = now;
  d->dirty = 1;
}

/* ---- events -------------------------------------------------------------- */

void tk__hub_status_ready(session_t *s)
{
  tk_hub_t *h = s->hub;
  if (s->st.ready) return;
  s->st.ready = 1;
  s->st.start = (int64_t)time(NULL);
  h->status->syncs++;
  seen(h, s->peer.id, s->st.start);
  flush(h, 0);
}

/* What session s moved so far. */
static tk__hub_counts_t session_counts(const session_t *s)
{
  tk__hub_counts_t c = s->st.c;
  c.revs_out = s->resp.sent_revs;
  c.rev_bytes_out = s->resp.sent_rev_bytes;
  c.chunks_out = s->resp.sent_chunks;
  c.chunk_bytes_out = s->resp.sent_chunk_bytes;
  return c;
}

void tk__hub_status_closed(session_t *s)
{
  tk_hub_t *h = s->hub;
  hub_status_t *st = h->status;
  st->wire_in += tk_conn_bytes_in(s->conn);
  st->wire_out += tk_conn_bytes_out(s->conn);
  tk__hub_counts_t c = session_counts(s);
  st->closed_out.revs_out += c.revs_out;
  st->closed_out.rev_bytes_out += c.rev_bytes_out;
  st->closed_out.chunks_out += c.chunks_out;
  st->closed_out.chunk_bytes_out += c.chunk_bytes_out;
  if (!s->st.ready) return;
  int64_t now = (int64_t)time(NULL);
  seen(h, s->peer.id, now);
  hub_dev_t *d = dev_get(st, s->peer.id, 0);
  if (d && s->st.start >= d->last_start) {
    d->has_last = 1;
    d->last_start = s->st.start;
    d->last_end = now;
    d->last = c;
  }
  flush(h, 0);
}

void tk__hub_status_pushed(session_t *s, const tk_apply_result_t *r)
{
  hub_status_t *st = s->hub->status;
  s->st.c.revs_in += r->accepted;
  s->st.c.rev_bytes_in += r->bytes;
  s->st.c.rejected += r->nrejected;
  st->in.revs_in += r->accepted;
  st->in.rev_bytes_in += r->bytes;
  st->in.rejected += r->nrejected;
  for (size_t i = 0; i < r->nrejected; i++) {
    int code = r->rejected[i].code;
    st->rejected[code > 0 && (size_t)code < NREASONS ? code : 0]++;
  }
}

void tk__hub_status_chunk(session_t *s, size_t n)
{
  hub_status_t *st = s->hub->status;
  s->st.c.chunks_in++;
  s->st.c.chunk_bytes_in += n;
  st->in.chunks_in++;
  st->in.chunk_bytes_in += n;
}

void tk__hub_status_commit(tk_hub_t *h, int kind, uint64_t ns)
{
  hub_status_t *st = h->status;
  if (kind < 0 || kind >= TK__COMMIT_NKINDS) kind = TK__COMMIT_OTHER;
  double sec = (double)ns / 1e9;
  size_t b = 0;
  while (b < NBUCKETS && sec > commit_le[b])
    b++;
  if (b < NBUCKETS) st->commit[kind].bucket[b]++;
  st->commit[kind].count++;
  st->commit[kind].sum_ns += ns;
}

void tk__hub_status_plugins(tk_hub_t *h, uint64_t calls, uint64_t timeouts)
{
  h->status->plugin_calls += calls;
  h->status->plugin_timeouts += timeouts;
}

void tk__hub_status_stop(tk_hub_t *h)
{
  int64_t now = (int64_t)time(NULL);
  for (session_t *s = h->sessions; s; s = s->next)
    if (s->st.ready) seen(h, s->peer.id, now);
  flush(h, 1); /* queued before the store thread stops, so it is written */
  tk__hub_control_stop(h);
}

/* ---- the status object --------------------------------------------------- */

/* Unix seconds of an RFC 3339 time ("2026-12-03T15:04:05Z", fractions and
 * an offset allowed); -1 if text is not one. */
static int64_t rfc3339_parse(const char *text)
{
  struct tm tm;
  char sep;
  int n = 0;
  memset(&tm, 0, sizeof tm);
  if (sscanf(text, "%4d-%2d-%2d%c%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
             &sep, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 7 ||
      (sep != 'T' && sep != 't' && sep != ' ') || n != 19)
    return -1;
  const char *p = text + n;
  if (*p == '.')
    for (p++; *p >= '0' && *p <= '9'; p++)
      ;
  long off = 0;
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    int oh, om, k = 0;
    if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &k) != 2 || k != 5) return -1;
    off = (oh * 60L + om) * 60L * (*p == '-' ? -1 : 1);
    p += 6;
  } else {
    return -1;
  }
  if (*p || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
      tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
    return -1;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  time_t t = timegm(&tm);
  return t == (time_t)-1 ? -1 : (int64_t)t - off;
}

typedef struct seen_row_list {
  struct seen_row *v;
  size_t n, cap;
} seen_list_t;

static int seen_cb(void *ctx, const uint8_t id[TK_DEVICE_ID_LEN], int64_t last_seen)
{
  seen_list_t *l = ctx;
  if (l->n == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 32;
    struct seen_row *v = realloc(l->v, cap * sizeof *v);
    if (!v) return TK_ENOMEM;
    l->v = v;
    l->cap = cap;
  }
  memcpy(l->v[l->n].id, id, TK_DEVICE_ID_LEN);
  l->v[l->n++].when = last_seen;
  return 0;
}

static json_t *counts_json(const tk__hub_counts_t *c, int out)
{
  return out ? json_pack("{s:I,s:I,s:I,s:I}", "revisions", (json_int_t)c->revs_out,
                         "revision_bytes", (json_int_t)c->rev_bytes_out, "chunks",
                         (json_int_t)c->chunks_out, "chunk_bytes",
                         (json_int_t)c->chunk_bytes_out)
             : json_pack("{s:I,s:I,s:I,s:I}", "revisions", (json_int_t)c->revs_in,
                         "revision_bytes", (json_int_t)c->rev_bytes_in, "chunks",
                         (json_int_t)c->chunks_in, "chunk_bytes",
                         (json_int_t)c->chunk_bytes_in);
}

static json_t *session_json(int64_t start, int64_t end, const tk__hub_counts_t *c)
{
  return json_pack("{s:I,s:o,s:o,s:o,s:I}", "start", (json_int_t)start, "end",
                   end ? json_integer(end) : json_null(), "pushed", counts_json(c, 0),
                   "pulled", counts_json(c, 1), "rejected", (json_int_t)c->rejected);
}

typedef struct dev_ctx {
  tk_hub_t *h;
  json_t *arr;
  seen_list_t seen;
  int64_t now;
} dev_ctx_t;

static int device_cb(void *ctx, const tk_device_info_t *d)
{
  dev_ctx_t *x = ctx;
  tk_hub_t *h = x->h;
  if (memcmp(d->id, h->id->id, TK_DEVICE_ID_LEN) == 0) return 0; /* the hub itself */
  char id[TK_DEVICE_ID_STRLEN];
  tk_device_id_format(id, d->id);
  int64_t last_seen = 0;
  for (size_t i = 0; i < x->seen.n; i++)
    if (memcmp(x->seen.v[i].id, d->id, TK_DEVICE_ID_LEN) == 0)
      last_seen = x->seen.v[i].when;
  hub_dev_t *m = dev_get(h->status, d->id, 0);
  if (m && m->last_seen > last_seen) last_seen = m->last_seen;
  /* its sessions open now; the newest one is its last session */
  unsigned connected = 0;
  const session_t *live = NULL;
  for (const session_t *s = h->sessions; s; s = s->next) {
    if (!s->st.ready || s->state == S_CLOSING ||
        memcmp(s->peer.id, d->id, TK_DEVICE_ID_LEN) != 0)
      continue;
    connected++;
    if (!live || s->st.start >= live->st.start) live = s;
  }
  if (connected) last_seen = x->now;
  json_t *last = json_null();
  if (live) {
    tk__hub_counts_t c = session_counts(live);
    last = session_json(live->st.start, 0, &c);
  } else if (m && m->has_last) {
    last = session_json(m->last_start, m->last_end, &m->last);
  }
  json_t *o = json_pack("{s:s,s:s,s:b,s:I,s:o,s:o}", "id", id, "name", d->name, "revoked",
                        d->revoked != 0, "connected", (json_int_t)connected, "last_seen",
                        last_seen ? json_integer(last_seen) : json_null(), "last_session",
                        last ? last : json_null());
  if (!o) return TK_ENOMEM;
  return json_array_append_new(x->arr, o) ? TK_ENOMEM : 0;
}

json_t *tk_hub_status_json(tk_hub_t *h)
{
  hub_status_t *st = h->status;
  tk_err_t e;
  char hub_id[TK_DEVICE_ID_STRLEN];
  int64_t now = (int64_t)time(NULL);
  tk_device_id_format(hub_id, h->id->id);
  json_t *o = json_pack(
      "{s:s,s:I,s:s,s:s,s:I,s:I,s:I,s:s,s:o,s:{s:I,s:I,s:I,s:I},s:I}", "version",
      TK_VERSION, "pid", (json_int_t)getpid(), "home", tk_office_home_dir(h->home),
      "hub_id", hub_id, "started", (json_int_t)st->started, "now", (json_int_t)now,
      "uptime_s", (json_int_t)((uv_hrtime() - st->started_ns) / 1000000000u), "listen",
      st->listen[0] ? st->listen : h->cfg.listen, "metrics",
      st->metrics[0] ? json_string(st->metrics) : json_null(), "connections", "now",
      (json_int_t)h->nsessions, "authenticated", (json_int_t)h->nauthed, "total",
      (json_int_t)st->conn_total, "max", (json_int_t)h->cfg.max_connections, "syncs",
      (json_int_t)st->syncs);
  json_t *errors = json_array();
  if (!o || !errors) goto fail;
  /* devices */
  dev_ctx_t x = {h, json_array(), {NULL, 0, 0}, now};
  if (!x.arr) goto fail;
  int rc = tk_store_devices_seen(h->store, seen_cb, &x.seen, &e);
  if (!rc) rc = tk_store_devices(h->store, device_cb, &x, &e);
  free(x.seen.v);
  if (rc == TK_ENOMEM) {
    json_decref(x.arr);
    goto fail;
  }
  if (rc) json_array_append_new(errors, json_sprintf("devices: %s", tk_err_str(&e)));
  json_object_set_new(o, "devices", x.arr);
  /* store */
  tk_store_sizes_t sz;
  if (tk_store_sizes(h->store, &sz, &e) == 0) {
    json_object_set_new(o, "quarantine",
                        json_pack("{s:I,s:I}", "held", (json_int_t)sz.quarantine_held,
                                  "refused", (json_int_t)sz.quarantine_refused));
    json_object_set_new(
        o, "store",
        json_pack("{s:s,s:I,s:I,s:I,s:I,s:I}", "path", tk_store_path(h->store),
                  "file_bytes", (json_int_t)sz.file_bytes, "wal_bytes",
                  (json_int_t)sz.wal_bytes, "revisions", (json_int_t)sz.revisions,
                  "chunks", (json_int_t)sz.chunks, "chunk_bytes",
                  (json_int_t)sz.chunk_bytes));
  } else {
    json_array_append_new(errors, json_sprintf("store: %s", tk_err_str(&e)));
  }
  /* backup: written by `tundukd backup` (TK_META_LAST_BACKUP) */
  char when[64];
  json_t *b;
  if (tk_store_meta_get(h->store, TK_META_LAST_BACKUP, when, sizeof when, NULL) != 0) {
    b = json_pack("{s:n,s:n}", "last", "age_s");
  } else {
    int64_t t = rfc3339_parse(when);
    b = t < 0 ? json_pack("{s:n,s:n,s:s}", "last", "age_s", "unreadable", when)
              : json_pack("{s:I,s:I}", "last", (json_int_t)t, "age_s",
                          (json_int_t)(now > t ? now - t : 0));
  }
  json_object_set_new(o, "backup", b);
  if (json_array_size(errors))
    json_object_set_new(o, "errors", errors);
  else
    json_decref(errors);
  return o;
fail:
  json_decref(o);
  json_decref(errors);
  return NULL;
}

/* ---- metrics ------------------------------------------------------------- */

/* The text being written, and whether an append failed (out of memory). */
typedef struct mt {
  tk_buf_t *out;
  int bad;
} mt_t;

#define mt_printf(m, ...) ((m)->bad |= tk_buf_printf((m)->out, __VA_ARGS__) < 0)

static void metric(mt_t *b, const char *name, const char *type, const char *help)
{
  mt_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void counter(mt_t *b, const char *name, const char *help, uint64_t v)
{
  metric(b, name, "counter", help);
  mt_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

static void gauge(mt_t *b, const char *name, const char *help, uint64_t v)
{
  metric(b, name, "gauge", help);
  mt_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

int tk_hub_metrics_text(tk_hub_t *h, tk_buf_t *text)
{
  mt_t mt = {text, 0}, *b = &mt;
  hub_status_t *st = h->status;
  tk__hub_counts_t out = st->closed_out;
  uint64_t wire_in = st->wire_in, wire_out = st->wire_out;
  for (const session_t *s = h->sessions; s; s = s->next) {
    tk__hub_counts_t c = session_counts(s);
    out.revs_out += c.revs_out;
    out.rev_bytes_out += c.rev_bytes_out;
    out.chunks_out += c.chunks_out;
    out.chunk_bytes_out += c.chunk_bytes_out;
    wire_in += tk_conn_bytes_in(s->conn);
    wire_out += tk_conn_bytes_out(s->conn);
  }
  metric(b, "tundukd_build_info", "gauge", "The hub's version, as a label.");
  mt_printf(b, "tundukd_build_info{version=\"%s\"} 1\n", TK_VERSION);
  gauge(b, "tundukd_start_time_seconds", "When the hub started, unix seconds.",
        (uint64_t)st->started);
  counter(b, "tundukd_connections_total", "TCP connections accepted.", st->conn_total);
  gauge(b, "tundukd_connections", "Connections open now, authenticated or not.",
        h->nsessions);
  gauge(b, "tundukd_connections_authenticated",
        "Connections open now whose device authenticated.", h->nauthed);
  counter(b, "tundukd_syncs_total",
          "Sessions of enrolled devices: a verified Hello or an enrollment.", st->syncs);
  counter(b, "tundukd_revisions_received_total", "Pushed revisions stored (new ones).",
          st->in.revs_in);
  counter(b, "tundukd_revisions_sent_total", "Revisions sent to pulling devices.",
          out.revs_out);
  counter(b, "tundukd_revision_bytes_received_total",
          "Bytes of the pushed revisions stored.", st->in.rev_bytes_in);
  counter(b, "tundukd_revision_bytes_sent_total", "Bytes of the revisions sent.",
          out.rev_bytes_out);
  counter(b, "tundukd_chunks_received_total", "Attachment chunks pushed and stored.",
          st->in.chunks_in);
  counter(b, "tundukd_chunks_sent_total", "Attachment chunks sent.", out.chunks_out);
  counter(b, "tundukd_chunk_bytes_received_total",
          "Bytes (ciphertext) of the attachment chunks stored.", st->in.chunk_bytes_in);
  counter(b, "tundukd_chunk_bytes_sent_total",
          "Bytes (ciphertext) of the attachment chunks sent.", out.chunk_bytes_out);
  counter(b, "tundukd_network_bytes_received_total",
          "Bytes read from device connections (TLS included).", wire_in);
  counter(b, "tundukd_network_bytes_sent_total",
          "Bytes written to device connections (TLS included).", wire_out);
  metric(b, "tundukd_rejections_total", "counter",
         "Pushed revisions refused or held, by reason (the RejectCode).");
  for (size_t i = 1; i < NREASONS; i++)
    mt_printf(b, "tundukd_rejections_total{reason=\"%s\"} %llu\n", reject_reason[i],
              (unsigned long long)st->rejected[i]);
  mt_printf(b, "tundukd_rejections_total{reason=\"%s\"} %llu\n", reject_reason[0],
            (unsigned long long)st->rejected[0]);
  metric(b, "tundukd_commit_seconds", "histogram",
         "Time of one store transaction on the store thread (checks, commit, fsync).");
  for (int k = 0; k < TK__COMMIT_NKINDS; k++) {
    uint64_t cum = 0;
    for (size_t i = 0; i < NBUCKETS; i++) {
      cum += st->commit[k].bucket[i];
      mt_printf(b, "tundukd_commit_seconds_bucket{kind=\"%s\",le=\"%g\"} %llu\n",
                commit_kind[k], commit_le[i], (unsigned long long)cum);
    }
    mt_printf(b, "tundukd_commit_seconds_bucket{kind=\"%s\",le=\"+Inf\"} %llu\n",
              commit_kind[k], (unsigned long long)st->commit[k].count);
    mt_printf(b, "tundukd_commit_seconds_sum{kind=\"%s\"} %.6f\n", commit_kind[k],
              (double)st->commit[k].sum_ns / 1e9);
    mt_printf(b, "tundukd_commit_seconds_count{kind=\"%s\"} %llu\n", commit_kind[k],
              (unsigned long long)st->commit[k].count);
  }
  gauge(b, "tundukd_store_jobs_pending", "Store writes queued or running now.",
        h->sthread ? tk_store_thread_pending(h->sthread) : 0);
  counter(b, "tundukd_plugin_calls_total",
          "Moderation rule checks run (one per rule and revision).", st->plugin_calls);
  counter(b, "tundukd_plugin_timeouts_total",
          "Moderation checks that ran out of time (plugin_call_ms, or the batch's time).",
          st->plugin_timeouts);
  return mt.bad ? TK_ENOMEM : 0;
}
