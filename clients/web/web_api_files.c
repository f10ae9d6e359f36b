/*
 * web_api_files.c: what goes in and out of the web UI as files:
 * attachments (uploaded as a stream, encrypted as it arrives, stored only
 * when whole; downloaded chunk by chunk, each checked), the printable case
 * report and the CSV / JSON Lines downloads of a filtered list.
 */
#define _GNU_SOURCE
#include "web_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HEX_REV (2 * TK_REV_ID_LEN + 1)

/* ---- attachments ----------------------------------------------------------------- */

enum MHD_Result web_attach_list(web_t *w, web_req_t *r)
{
  json_t *a = NULL;
  tk_err_t err;
  int rc = tk_office_attachments(w->o, r->seg[0], &a, &err);
  if (rc) return web_fail(r, rc, &err, NULL);
  return web_json(r, 200, a);
}

/* What a file's name says it holds (what the browser may show inline). */
static const char *media_type(const char *name)
{
  static const char *const map[][2] = {
      {".png", "image/png"},   {".jpg", "image/jpeg"},
      {".jpeg", "image/jpeg"}, {".gif", "image/gif"},
      {".webp", "image/webp"}, {".pdf", "application/pdf"},
      {".mp3", "audio/mpeg"},  {".ogg", "audio/ogg"},
      {".oga", "audio/ogg"},   {".opus", "audio/ogg"},
      {".wav", "audio/wav"},   {".m4a", "audio/mp4"},
      {".webm", "audio/webm"}, {".txt", "text/plain; charset=utf-8"},
      {".mp4", "video/mp4"},
  };
  const char *dot = strrchr(name, '.');
  for (size_t i = 0; dot && i < sizeof map / sizeof *map; i++)
    if (!strcasecmp(dot, map[i][0])) return map[i][1];
  return "application/octet-stream";
}

/* Content-Disposition with the name as RFC 5987 UTF-8 (and an ASCII
 * fallback without quotes or controls). */
static void disposition(char *out, size_t cap, const char *kind, const char *name)
{
  char ascii[128], enc[800];
  size_t a = 0, e = 0;
  for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
    if (a + 1 < sizeof ascii)
      ascii[a++] = (*p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\') ? (char)*p : '_';
    if (e + 4 < sizeof enc) {
      if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
          (*p >= '0' && *p <= '9') || *p == '.' || *p == '-' || *p == '_')
        enc[e++] = (char)*p;
      else
        e += (size_t)snprintf(enc + e, sizeof enc - e, "%%%02X", *p);
    }
  }
  ascii[a] = enc[e] = 0;
  snprintf(out, cap, "%s; filename=\"%s\"; filename*=UTF-8''%s", kind, ascii, enc);
}

static ssize_t read_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
  tk_office_download_t *rd = cls;
  size_t n = 0;
  tk_err_t err;
  (void)pos;
  if (tk_office_attachment_read(rd, buf, max, &n, &err)) {
    fprintf(stderr, "tunduk ui: %s\n", err.msg);
    return MHD_CONTENT_READER_END_WITH_ERROR;
  }
  return n ? (ssize_t)n : MHD_CONTENT_READER_END_OF_STREAM;
}

static void read_free(void *cls)
{
  tk_office_attachment_close(cls);
}

enum MHD_Result web_attach_get(web_t *w, web_req_t *r)
{
  tk_office_download_t *rd = NULL;
  uint64_t size = 0;
  tk_err_t err;
  int rc = tk_office_attachment_open(w->o, r->seg[0], r->seg[1], &rd, &size, &err);
  if (rc) return web_fail(r, rc, &err, NULL);
  struct MHD_Response *resp =
      MHD_create_response_from_callback(size, 64 * 1024, read_cb, rd, read_free);
  if (!resp) {
    tk_office_attachment_close(rd);
    return MHD_NO;
  }
  const char *arg = web_arg(r, "inline");
  int inl = arg && !strcmp(arg, "1");
  char disp[1200];
  disposition(disp, sizeof disp, inl ? "inline" : "attachment", r->seg[1]);
  MHD_add_response_header(resp, "Content-Type",
                          inl ? media_type(r->seg[1]) : "application/octet-stream");
  MHD_add_response_header(resp, "Content-Disposition", disp);
  if (inl) MHD_add_response_header(resp, "X-Tunduk-Frame", "1"); /* shown in our page */
  return web_queue(r, 200, resp);
}

/* An upload: the office's stream, opened at the first piece. */
typedef struct upload {
  tk_office_upload_t *up;
} upload_t;

static void upload_free(void *p)
{
  upload_t *u = p;
  if (u && u->up) tk_office_upload_abort(u->up);
  free(u);
}

static int upload_open(web_t *w, web_req_t *r)
{
  const char *name = web_arg(r, "name");
  const char *len = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                MHD_HTTP_HEADER_CONTENT_LENGTH);
  upload_t *u = calloc(1, sizeof *u);
  if (!u) return tk_err_set(&r->stream_err, TK_ENOMEM, "out of memory");
  r->state = u;
  r->state_free = upload_free;
  if (!name || !*name)
    return tk_err_set(&r->stream_err, TK_EINVAL, "give the file's name: ?name=NAME");
  if (!len)
    return tk_err_set(&r->stream_err, TK_EINVAL, "an upload needs a Content-Length");
  char *end;
  unsigned long long size = strtoull(len, &end, 10);
  if (*end) return tk_err_set(&r->stream_err, TK_EINVAL, "a bad Content-Length");
  return tk_office_upload_begin(w->o, r->seg[0], name, size, &u->up, &r->stream_err);
}

int web_attach_data(web_t *w, web_req_t *r, const char *p, size_t n)
{
  if (!r->state) {
    int rc = upload_open(w, r);
    if (rc) return rc;
  }
  upload_t *u = r->state;
  return tk_office_upload_write(u->up, p, n, &r->stream_err);
}

void web_attach_abort(web_t *w, web_req_t *r)
{
  upload_t *u = r->state;
  (void)w;
  if (u && u->up) {
    tk_office_upload_abort(u->up);
    u->up = NULL;
  }
}

enum MHD_Result web_attach_put(web_t *w, web_req_t *r)
{
  int rc = r->stream_rc;
  if (!rc && !r->state) rc = upload_open(w, r); /* an empty file */
  if (rc) return web_fail(r, rc, &r->stream_err, NULL);
  upload_t *u = r->state;
  char rev[HEX_REV];
  rc = tk_office_upload_finish(u->up, rev, &r->stream_err);
  u->up = NULL; /* finish frees it, whatever the outcome */
  if (rc) return web_fail(r, rc, &r->stream_err, NULL);
  web_cache_drop(w);
  return web_json(r, 201, json_pack("{s:s}", "revision", rev));
}

/* ---- reports and downloads ------------------------------------------------------- */

typedef struct out_buf {
  char *p;
  size_t n, cap;
} out_buf_t;

static int out_write(void *ud, const void *p, size_t n)
{
  out_buf_t *b = ud;
  if (b->n + n > (256u << 20)) return TK_ELIMIT;
  if (b->n + n > b->cap) {
    size_t cap = b->cap ? b->cap : 65536;
    while (cap < b->n + n)
      cap *= 2;
    char *q = realloc(b->p, cap);
    if (!q) return TK_ENOMEM;
    b->p = q;
    b->cap = cap;
  }
  memcpy(b->p + b->n, p, n);
  b->n += n;
  return 0;
}

static void out_free(out_buf_t *b)
{
  if (b->p) explicit_bzero(b->p, b->cap);
  free(b->p);
}

/* The export of ids (a JSON array of strings) through format as the answer. */
static enum MHD_Result export_ids(web_t *w, web_req_t *r, const char *format, json_t *ids,
                                  const char *lang, int tz, const char *media,
                                  const char *disp)
{
  size_t n = json_array_size(ids), i;
  const char **list = calloc(n + 1, sizeof *list);
  tk_office_export_opts_t opts;
  tk_office_export_stats_t st;
  out_buf_t b = {0};
  tk_err_t err;
  if (!list) return web_error(r, 500, "failed", "out of memory", NULL);
  for (i = 0; i < n; i++)
    list[i] = json_string_value(json_array_get(ids, i));
  memset(&opts, 0, sizeof opts);
  opts.format = format;
  opts.records = list;
  opts.lang = lang;
  opts.tz_offset_min = tz;
  int rc = tk_office_export_run(w->o, &opts, out_write, &b, &st, &err);
  free(list);
  enum MHD_Result ret;
  if (rc) {
    ret = web_fail(r, rc, &err, NULL);
  } else {
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(b.n, b.p ? b.p : "", MHD_RESPMEM_MUST_COPY);
    if (!resp) {
      out_free(&b);
      return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", media);
    if (disp) MHD_add_response_header(resp, "Content-Disposition", disp);
    /* the report's own <style> (plugins/html.lua), never a script */
    if (!disp) MHD_add_response_header(resp, "X-Tunduk-Frame", "report");
    ret = web_queue(r, 200, resp);
  }
  out_free(&b);
  return ret;
}

static int tz_arg(web_req_t *r)
{
  const char *tz = web_arg(r, "tz");
  long v = tz ? strtol(tz, NULL, 10) : 0;
  return v < -14 * 60 || v > 14 * 60 ? 0 : (int)v;
}

static const char *lang_arg(web_req_t *r)
{
  const char *l = web_arg(r, "lang");
  return l && (!strcmp(l, "ru") || !strcmp(l, "ky")) ? l : "en";
}

enum MHD_Result web_report(web_t *w, web_req_t *r)
{
  const char *rec = web_arg(r, "record");
  json_t *ids = NULL;
  tk_err_t err;
  if (!rec || !*rec) return web_error(r, 400, "input", "give the case: ?record=ID", NULL);
  int rc = tk_office_report_records(w->o, rec, &ids, &err);
  if (rc) return web_fail(r, rc, &err, NULL);
  enum MHD_Result ret = export_ids(w, r, "html", ids, lang_arg(r), tz_arg(r),
                                   "text/html; charset=utf-8", NULL);
  json_decref(ids);
  return ret;
}

enum MHD_Result web_export(web_t *w, web_req_t *r)
{
  const char *format = web_arg(r, "format"), *type;
  if (!format || (strcmp(format, "csv") != 0 && strcmp(format, "jsonl") != 0))
    return web_error(r, 400, "input", "format is csv or jsonl", NULL);
  tk_err_t err;
  int rc;
  json_t *ids = web_list_ids(w, r, &type, &err, &rc);
  if (!ids) return web_fail(r, rc, &err, NULL);
  char disp[200];
  snprintf(disp, sizeof disp, "attachment; filename=\"tunduk-%s.%s\"",
           type ? type : "records", format);
  enum MHD_Result ret =
      json_array_size(ids)
          ? export_ids(w, r, format, ids, lang_arg(r), tz_arg(r),
                       !strcmp(format, "csv") ? "text/csv; charset=utf-8"
                                              : "application/x-ndjson; charset=utf-8",
                       disp)
          : web_error(r, 404, "notfound", "no record matches the filters", NULL);
  json_decref(ids);
  return ret;
}
