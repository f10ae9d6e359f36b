/*
 * web.c: the office web UI's server. libmicrohttpd runs in external-loop
 * mode (MHD_USE_EPOLL without a thread of its own): its epoll descriptor
 * is one uv_poll handle of the libuv loop and its timeout one uv_timer, so
 * the HTTP server, a sync (tk_office_sync_start) and the idle lock share
 * one thread and the office is never used by two at once.
 *
 * Every request passes, in this order (SECURITY.md, "The web UI"):
 *   1. Host is 127.0.0.1:PORT or localhost:PORT (DNS rebinding)      421
 *   2. /launch?t=TOKEN: the one-time launch token (constant time) becomes
 *      the session cookie (HttpOnly, SameSite=Strict); used once      403
 *   3. every other path needs the session cookie                      401
 *   4. writes need X-Tunduk-CSRF, an Origin (if sent) of this server
 *      and no Sec-Fetch-Site: cross-site                              403
 * and every answer carries a strict CSP, nosniff, no-store, no-referrer.
 */
#define _GNU_SOURCE
#include "web_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static const char CSP[] = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
                          "form-action 'self'; object-src 'none'";
/* an attachment previewed inside the record's page (an iframe of ours) */
static const char CSP_FRAME[] = "default-src 'self'; frame-ancestors 'self'; base-uri "
                                "'none'; form-action 'none'; object-src 'self'";
/* the printable report: the export's own <style>, nothing else runs or loads */
static const char CSP_REPORT[] = "default-src 'none'; style-src 'unsafe-inline'; img-src "
                                 "'self'; frame-ancestors 'self'; base-uri 'none'; "
                                 "form-action 'none'";

/* ---- tokens ---------------------------------------------------------------------- */

/* 32 random bytes as 43 base64url characters. */
static int token_new(char out[WEB_TOKEN_LEN + 1])
{
  static const char b64[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  unsigned char raw[33];
  if (getrandom(raw, 32, 0) != 32) return -1;
  raw[32] = 0;
  size_t k = 0;
  for (size_t i = 0; i < 33 && k < WEB_TOKEN_LEN; i += 3) {
    uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];
    for (int s = 18; s >= 0 && k < WEB_TOKEN_LEN; s -= 6)
      out[k++] = b64[(v >> s) & 63];
  }
  out[k] = 0;
  explicit_bzero(raw, sizeof raw);
  return 0;
}

/* Whether s is exactly token (its length and bytes; the time does not
 * depend on where they differ). */
static int token_eq(const char *s, const char *token)
{
  size_t n = strlen(token);
  if (!s || !n || strlen(s) != n) return 0;
  unsigned char d = 0;
  for (size_t i = 0; i < n; i++)
    d |= (unsigned char)(s[i] ^ token[i]);
  return d == 0;
}

static uint64_t now_ms(web_t *w)
{
  return uv_now(w->loop);
}

/* ---- answers --------------------------------------------------------------------- */

enum MHD_Result web_queue(web_req_t *r, unsigned status, struct MHD_Response *resp)
{
  if (!resp) return MHD_NO;
  const char *csp = CSP;
  const char *own = MHD_get_response_header(resp, "X-Tunduk-Frame");
  if (own) {
    csp = !strcmp(own, "report") ? CSP_REPORT : CSP_FRAME;
    MHD_del_response_header(resp, "X-Tunduk-Frame", own);
  } else {
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
  }
  MHD_add_response_header(resp, "Content-Security-Policy", csp);
  MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
  MHD_add_response_header(resp, "Cache-Control", "no-store");
  MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
  MHD_add_response_header(resp, "Cross-Origin-Opener-Policy", "same-origin");
  MHD_add_response_header(resp, "Cross-Origin-Resource-Policy", "same-origin");
  enum MHD_Result ret = MHD_queue_response(r->conn, status, resp);
  MHD_destroy_response(resp);
  r->answered = 1;
  return ret;
}

enum MHD_Result web_bytes(web_req_t *r, unsigned status, const char *media_type,
                          const void *p, size_t n, const char *disposition)
{
  struct MHD_Response *resp =
      MHD_create_response_from_buffer(n, (void *)p, MHD_RESPMEM_MUST_COPY);
  if (!resp) return MHD_NO;
  MHD_add_response_header(resp, "Content-Type", media_type);
  if (disposition) MHD_add_response_header(resp, "Content-Disposition", disposition);
  return web_queue(r, status, resp);
}

enum MHD_Result web_json(web_req_t *r, unsigned status, json_t *j)
{
  if (!j) return web_error(r, 500, "failed", "out of memory", NULL);
  char *s = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
  json_decref(j);
  if (!s) return web_error(r, 500, "failed", "out of memory", NULL);
  struct MHD_Response *resp =
      MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_FREE);
  if (!resp) {
    free(s);
    return MHD_NO;
  }
  MHD_add_response_header(resp, "Content-Type", "application/json; charset=utf-8");
  return web_queue(r, status, resp);
}

enum MHD_Result web_error(web_req_t *r, unsigned status, const char *code,
                          const char *message, const tk_office_problems_t *problems)
{
  json_t *e = json_pack("{s:s,s:s}", "code", code, "message", message);
  if (e && problems && problems->n) {
    json_t *arr = json_array();
    size_t n =
        problems->n < TK_OFFICE_MAX_PROBLEMS ? problems->n : TK_OFFICE_MAX_PROBLEMS;
    for (size_t i = 0; arr && i < n; i++)
      json_array_append_new(arr, json_pack("{s:s,s:s}", "field", problems->v[i].field,
                                           "message", problems->v[i].message));
    json_object_set_new(e, "problems", arr);
  }
  return web_json(r, status, e ? json_pack("{s:o}", "error", e) : NULL);
}

enum MHD_Result web_fail(web_req_t *r, int rc, const tk_err_t *err,
                         const tk_office_problems_t *problems)
{
  const char *msg = err && err->msg[0] ? err->msg : tk_strerror(rc);
  switch (rc) {
  case TK_EINVAL:
    if (problems && problems->n) return web_error(r, 422, "invalid", msg, problems);
    return web_error(r, 400, "input", msg, NULL);
  case TK_EAMBIG:
  case TK_EFORMAT:
    return web_error(r, 400, "input", msg, NULL);
  case TK_ENOTFOUND:
    return web_error(r, 404, "notfound", msg, NULL);
  case TK_EEXIST:
    return web_error(r, 409, "exists", msg, NULL);
  case TK_EPENDING:
    return web_error(r, 409, "pending", msg, NULL);
  case TK_EBUSY:
    return web_error(r, 409, "busy", msg, NULL);
  case TK_ELIMIT:
    return web_error(r, 413, "limit", msg, NULL);
  case TK_EPASS:
    return web_error(r, 423, "locked", "the office is locked", NULL);
  case TK_EACCESS:
    return web_error(r, 403, "access", msg, NULL);
  case TK_EPLUGIN:
    return web_error(r, 422, "plugin", msg, problems);
  default:
    return web_error(r, 500, "failed", msg, NULL);
  }
}

/* A plain-text refusal of a check (before any route). */
static enum MHD_Result refuse(web_req_t *r, unsigned status, const char *code,
                              const char *text)
{
  r->refused = 1;
  if (!strncmp(r->path, "/api/", 5)) return web_error(r, status, code, text, NULL);
  return web_bytes(r, status, "text/plain; charset=utf-8", text, strlen(text), NULL);
}

json_t *web_body(web_req_t *r, enum MHD_Result *ret)
{
  json_error_t je;
  json_t *j =
      r->body ? json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &je) : NULL;
  if (!j || !json_is_object(j)) {
    char msg[300];
    if (!r->body)
      snprintf(msg, sizeof msg, "the request has no JSON body");
    else if (!j)
      snprintf(msg, sizeof msg, "the request body is not JSON: line %d, column %d: %s",
               je.line, je.column, je.text);
    else
      snprintf(msg, sizeof msg, "the request body is not a JSON object");
    json_decref(j);
    *ret = web_error(r, 400, "input", msg, NULL);
    return NULL;
  }
  return j;
}

const char *web_arg(web_req_t *r, const char *key)
{
  return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

/* ---- the session ----------------------------------------------------------------- */

void web_lock(web_t *w)
{
  web_cache_drop(w);
  tk_office_lock(w->o);
}

json_t *web_session_json(web_t *w)
{
  char id[TK_DEVICE_ID_STRLEN], org[256] = "", lang[8] = "en";
  tk_office_device_id(w->o, id);
  tk_office_setting_get(w->o, "organisation", org, sizeof org);
  if (tk_office_setting_get(w->o, "ui_language", lang, sizeof lang) || !lang[0])
    strcpy(lang, "en");
  return json_pack("{s:b,s:s,s:{s:s,s:s},s:i,s:s,s:s,s:b,s:s,s:s}", "locked",
                   tk_office_locked(w->o), "csrf", w->csrf, "device", "id", id, "name",
                   tk_office_device_name(w->o), "idle_minutes",
                   (int)((w->idle_ms + 59999u) / 60000u), "language", lang,
                   "organisation", org, "syncing", w->sync != NULL, "version", TK_VERSION,
                   "home", w->home ? w->home : "");
}

/* The idle lock: every few seconds, whether the page has been quiet too long. */
static void idle_tick(uv_timer_t *t)
{
  web_t *w = t->data;
  if (!tk_office_locked(w->o) && !w->sync &&
      now_ms(w) - w->last_activity_ms >= w->idle_ms)
    web_lock(w);
}

/* The idle time from the setting (minutes); TUNDUK_UI_IDLE_SECONDS
 * shortens it for tests. */
void web_idle_load(web_t *w)
{
  char v[16] = "";
  long min = WEB_IDLE_DEFAULT_MIN;
  if (!tk_office_setting_get(w->o, "ui_idle_minutes", v, sizeof v) && v[0]) {
    long m = strtol(v, NULL, 10);
    if (m >= 1 && m <= WEB_IDLE_MAX_MIN) min = m;
  }
  w->idle_ms = (uint64_t)min * 60000u;
  const char *s = getenv("TUNDUK_UI_IDLE_SECONDS");
  if (s && *s) {
    long sec = strtol(s, NULL, 10);
    if (sec >= 1 && (uint64_t)sec * 1000u < w->idle_ms)
      w->idle_ms = (uint64_t)sec * 1000u;
  }
}

/* ---- routing --------------------------------------------------------------------- */

/* Splits the path at '/' and matches a route; the "*" segments (decoded
 * in place) go to r->seg. Returns the route, or NULL. *method_ok tells
 * whether some route has the path with another method (405). */
static const web_route_t *route_find(web_req_t *r, int *path_known)
{
  char *parts[WEB_MAX_SEGMENTS + 1];
  int n = 0;
  *path_known = 0;
  for (char *p = r->path + 1; *p && n <= WEB_MAX_SEGMENTS;) {
    parts[n++] = p;
    char *slash = strchr(p, '/');
    if (!slash) break;
    *slash = 0;
    p = slash + 1;
  }
  if (n > WEB_MAX_SEGMENTS) return NULL;
  for (size_t i = 0; i < web_nroutes; i++) {
    const web_route_t *rt = &web_routes[i];
    const char *pat = rt->pattern + 1;
    int k = 0, ok = 1;
    while (ok && *pat) {
      const char *end = strchr(pat, '/');
      size_t len = end ? (size_t)(end - pat) : strlen(pat);
      if (k >= n)
        ok = 0;
      else if (len == 1 && *pat == '*')
        ; /* any one segment */
      else if (strlen(parts[k]) != len || strncmp(parts[k], pat, len) != 0)
        ok = 0;
      k++;
      pat += len + (end ? 1 : 0);
    }
    if (!ok || k != n) continue;
    *path_known = 1;
    if (strcmp(rt->method, r->method) != 0) continue;
    /* matched: the "*" segments, decoded */
    pat = rt->pattern + 1;
    r->nseg = 0;
    for (k = 0; *pat; k++) {
      const char *end = strchr(pat, '/');
      size_t len = end ? (size_t)(end - pat) : strlen(pat);
      if (len == 1 && *pat == '*') {
        MHD_http_unescape(parts[k]);
        r->seg[r->nseg++] = parts[k];
      }
      pat += len + (end ? 1 : 0);
    }
    return rt;
  }
  return NULL;
}

static const web_asset_t *asset_find(const char *path)
{
  if (!strcmp(path, "/")) path = "/index.html";
  for (size_t i = 0; i < web_nassets; i++)
    if (!strcmp(web_assets[i].path, path)) return &web_assets[i];
  return NULL;
}

static int is_write(const char *method)
{
  return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0;
}

/* Checks 1, 3 and 4 of the list at the top (2 is /launch itself). 0 when
 * the request may go on; else the refusal is queued and *ret its result. */
static int checks(web_t *w, web_req_t *r, enum MHD_Result *ret)
{
  const char *host = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Host");
  if (!host || (strcmp(host, w->host[0]) != 0 && strcmp(host, w->host[1]) != 0)) {
    *ret =
        refuse(r, 421, "host", "wrong Host: this server answers only to its own address");
    return -1;
  }
  if (!strcmp(r->path, "/launch") || !strcmp(r->path, "/favicon.ico")) return 0;
  const char *cookie =
      MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, "tk_session");
  if (!w->session[0] || !token_eq(cookie, w->session)) {
    *ret = refuse(r, 401, "session",
                  "no session: open the address 'tunduk ui' printed (it works once)");
    return -1;
  }
  const char *site =
      MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Sec-Fetch-Site");
  const char *origin = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Origin");
  if (site && !strcmp(site, "cross-site")) {
    *ret = refuse(r, 403, "origin", "a request from another site is refused");
    return -1;
  }
  if (is_write(r->method)) {
    if (origin && strcmp(origin, w->origin[0]) != 0 &&
        strcmp(origin, w->origin[1]) != 0) {
      *ret = refuse(r, 403, "origin", "a write from another origin is refused");
      return -1;
    }
    const char *csrf =
        MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "X-Tunduk-CSRF");
    if (!token_eq(csrf, w->csrf)) {
      *ret =
          refuse(r, 403, "csrf", "a write needs the X-Tunduk-CSRF header of the session");
      return -1;
    }
  }
  return 0;
}

/* /launch?t=TOKEN: the one-time token becomes the session cookie. */
static enum MHD_Result launch(web_t *w, web_req_t *r)
{
  const char *t = web_arg(r, "t");
  if (w->launch_used || !token_eq(t, w->launch)) {
    const char *msg = w->launch_used
                          ? "this launch address was used already: restart 'tunduk ui'"
                          : "wrong launch token";
    r->refused = 1;
    return web_bytes(r, 403, "text/plain; charset=utf-8", msg, strlen(msg), NULL);
  }
  w->launch_used = 1;
  explicit_bzero(w->launch, sizeof w->launch);
  if (token_new(w->session) || token_new(w->csrf))
    return web_error(r, 500, "failed", "no random bytes", NULL);
  char cookie[128];
  snprintf(cookie, sizeof cookie, "tk_session=%s; HttpOnly; SameSite=Strict; Path=/",
           w->session);
  struct MHD_Response *resp =
      MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
  if (!resp) return MHD_NO;
  MHD_add_response_header(resp, "Set-Cookie", cookie);
  MHD_add_response_header(resp, "Location", "/");
  return web_queue(r, 303, resp);
}

static void req_free(web_req_t *r)
{
  if (!r) return;
  if (r->state_free) r->state_free(r->state);
  if (r->body) {
    explicit_bzero(r->body, r->body_len);
    free(r->body);
  }
  free(r);
}

static enum MHD_Result dispatch(web_t *w, web_req_t *r)
{
  if (!strcmp(r->path, "/launch")) return launch(w, r);
  if (!strcmp(r->path, "/favicon.ico"))
    return web_bytes(r, 204, "image/x-icon", "", 0, NULL);
  if (!r->route) {
    if (strncmp(r->path, "/api/", 5) != 0 && !strcmp(r->method, "GET")) {
      const web_asset_t *a = asset_find(r->path);
      if (a) {
        struct MHD_Response *resp = MHD_create_response_from_buffer(
            a->len, (void *)a->data, MHD_RESPMEM_PERSISTENT);
        if (!resp) return MHD_NO;
        MHD_add_response_header(resp, "Content-Type", a->media_type);
        return web_queue(r, 200, resp);
      }
    }
    return web_error(r, 404, "notfound", "no such page or call", NULL);
  }
  /* a background poll is not activity, unless the page says the person typed or
   * clicked since its last one (GET /api/session?active=1: a long form being written) */
  const char *active = web_arg(r, "active");
  if (!(r->route->flags & WEB_QUIET) || (active && !strcmp(active, "1")))
    w->last_activity_ms = now_ms(w);
  if (r->too_big)
    return web_error(r, 413, "limit", "the request body is larger than the limit", NULL);
  if ((r->route->flags & WEB_KEYS) && tk_office_locked(w->o))
    return web_error(r, 423, "locked", "the office is locked", NULL);
  if ((r->route->flags & WEB_WRITE) && w->sync)
    return web_error(r, 409, "busy", "a sync is running; try again when it has ended",
                     NULL);
  return r->route->handle(w, r);
}

static enum MHD_Result arg_len(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *value)
{
  (void)kind;
  *(size_t *)cls += strlen(key) + (value ? strlen(value) : 0) + 2;
  return MHD_YES;
}

/* MHD's access handler: called with the headers, then with each piece of
 * the body, then once more with none. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **con_cls)
{
  web_t *w = cls;
  web_req_t *r = *con_cls;
  enum MHD_Result ret = MHD_YES;
  if (!r) {
    if (!(r = calloc(1, sizeof *r))) return MHD_NO;
    *con_cls = r;
    r->conn = conn;
    r->method = method;
    r->url = url;
    size_t qlen = 0;
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, arg_len, &qlen);
    if (strlen(url) + qlen >= WEB_MAX_URL || url[0] != '/') {
      snprintf(r->path, sizeof r->path, "/");
      return refuse(r, 414, "input", "the address is too long");
    }
    snprintf(r->path, sizeof r->path, "%s", url);
    if (checks(w, r, &ret)) return ret;
    int known = 0;
    if (!strncmp(r->path, "/api/", 5)) {
      r->route = route_find(r, &known);
      if (!r->route && known) return refuse(r, 405, "input", "method not allowed here");
    }
    /* a write that will be refused is refused before its body */
    if (r->route && (r->route->flags & WEB_STREAM)) {
      if ((r->route->flags & WEB_KEYS) && tk_office_locked(w->o))
        return refuse(r, 423, "locked", "the office is locked");
      if ((r->route->flags & WEB_WRITE) && w->sync)
        return refuse(r, 409, "busy", "a sync is running; try again when it has ended");
    }
    return MHD_YES;
  }
  if (r->answered || r->refused) {
    *upload_size = 0; /* the body of a refused request is read and dropped */
    return MHD_YES;
  }
  if (*upload_size) {
    size_t n = *upload_size;
    *upload_size = 0;
    if (r->route && (r->route->flags & WEB_STREAM)) {
      if (!r->stream_rc) r->stream_rc = r->route->stream(w, r, upload, n);
      return MHD_YES;
    }
    if (r->too_big || r->body_len + n > WEB_MAX_JSON) {
      r->too_big = 1;
      return MHD_YES;
    }
    char *b = realloc(r->body, r->body_len + n + 1);
    if (!b) return MHD_NO;
    r->body = b;
    memcpy(r->body + r->body_len, upload, n);
    r->body_len += n;
    r->body[r->body_len] = 0;
    return MHD_YES;
  }
  (void)version;
  return dispatch(w, r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
  web_t *w = cls;
  web_req_t *r = *con_cls;
  if (!r) return;
  /* a streamed body that did not end with an answer (a cut): its handler
   * throws away what it holds */
  if (r->route && (r->route->flags & WEB_STREAM) && r->route->abort &&
      (!r->answered || toe != MHD_REQUEST_TERMINATED_COMPLETED_OK))
    r->route->abort(w, r);
  req_free(r);
  *con_cls = NULL;
  (void)conn;
}

/* ---- MHD on the loop ------------------------------------------------------------------
 */

static void mhd_run(web_t *w);

static void on_mhd_timer(uv_timer_t *t)
{
  mhd_run(t->data);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
  (void)status;
  (void)events;
  mhd_run(p->data);
}

/* Lets MHD do what is ready, then arms the timer for what it waits on. */
static void mhd_run(web_t *w)
{
  if (w->stopping) return;
  MHD_run(w->d);
  MHD_UNSIGNED_LONG_LONG to = 0;
  uint64_t ms = 1000;
  if (MHD_get_timeout(w->d, &to) == MHD_YES) ms = to < 1000 ? to : 1000;
  uv_timer_start(&w->mhd_timer, on_mhd_timer, ms, 0);
}

static void on_signal(uv_signal_t *s, int signum)
{
  web_t *w = s->data;
  (void)signum;
  if (w->sync) {
    tk_office_sync_cancel(w->sync); /* its end stops the loop */
    w->stopping = 1;
    return;
  }
  w->stopping = 1;
  uv_stop(w->loop);
}

/* libmicrohttpd's own messages (fmt is the library's): declared printf-like,
 * as clang's -Wformat-nonliteral wants. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
  (void)cls;
  fputs("tunduk ui: ", stderr);
  vfprintf(stderr, fmt, ap);
}

/* Starts a browser on url in the background (xdg-open); 0 if one started. */
static int browser_open(const char *url)
{
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    int fd = open("/dev/null", 0);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    execlp("xdg-open", "xdg-open", url, (char *)NULL);
    _exit(127);
  }
  return 0;
}

static void close_cb(uv_handle_t *h)
{
  (void)h;
}

int tk_web_run(tk_office_t *o, const tk_web_opts_t *opts, tk_err_t *err)
{
  web_t w;
  memset(&w, 0, sizeof w);
  w.o = o;
  w.home = opts->home;
  w.loop = uv_default_loop();
  if (token_new(w.launch))
    return tk_err_set(err, TK_EIO, "no random bytes for the token");
  web_idle_load(&w);
  signal(SIGPIPE, SIG_IGN);
  signal(SIGCHLD, SIG_IGN); /* the browser's xdg-open is not waited for */

  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons(opts->port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  w.d = MHD_start_daemon(
      MHD_USE_EPOLL | MHD_USE_ERROR_LOG, opts->port, NULL, NULL, on_request, &w,
      MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_SOCK_ADDR,
      (struct sockaddr *)&sa, MHD_OPTION_NOTIFY_COMPLETED, on_completed, &w,
      MHD_OPTION_CONNECTION_LIMIT, (unsigned)64, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
      (unsigned)32, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(256u << 10), MHD_OPTION_END);
  if (!w.d)
    return tk_err_set(err, TK_EIO, "cannot listen on 127.0.0.1:%u: %s", opts->port,
                      strerror(errno ? errno : EADDRINUSE));
  const union MHD_DaemonInfo *di = MHD_get_daemon_info(w.d, MHD_DAEMON_INFO_BIND_PORT);
  w.port = di ? di->port : opts->port;
  const union MHD_DaemonInfo *ep = MHD_get_daemon_info(w.d, MHD_DAEMON_INFO_EPOLL_FD);
  if (!ep) {
    MHD_stop_daemon(w.d);
    return tk_err_set(err, TK_EIO, "the HTTP library has no epoll descriptor");
  }
  snprintf(w.host[0], sizeof w.host[0], "127.0.0.1:%u", w.port);
  snprintf(w.host[1], sizeof w.host[1], "localhost:%u", w.port);
  snprintf(w.origin[0], sizeof w.origin[0], "http://127.0.0.1:%u", w.port);
  snprintf(w.origin[1], sizeof w.origin[1], "http://localhost:%u", w.port);

  uv_poll_init(w.loop, &w.poll, ep->epoll_fd);
  w.poll.data = &w;
  uv_poll_start(&w.poll, UV_READABLE, on_poll);
  uv_timer_init(w.loop, &w.mhd_timer);
  w.mhd_timer.data = &w;
  uv_timer_init(w.loop, &w.idle_timer);
  w.idle_timer.data = &w;
  uv_timer_start(&w.idle_timer, idle_tick, 1000, 1000);
  uv_signal_init(w.loop, &w.sigint);
  uv_signal_init(w.loop, &w.sigterm);
  w.sigint.data = w.sigterm.data = &w;
  uv_signal_start(&w.sigint, on_signal, SIGINT);
  uv_signal_start(&w.sigterm, on_signal, SIGTERM);
  w.last_activity_ms = now_ms(&w);
  mhd_run(&w);

  char url[160];
  snprintf(url, sizeof url, "http://127.0.0.1:%u/launch?t=%s", w.port, w.launch);
  fprintf(opts->out, "tunduk ui: %s\n", url);
  fflush(opts->out);
  if (!opts->no_browser && browser_open(url) != 0)
    fprintf(stderr, "tunduk ui: open this address in your browser\n");
  explicit_bzero(url, sizeof url);

  uv_run(w.loop, UV_RUN_DEFAULT);

  w.stopping = 1;
  uv_poll_stop(&w.poll);
  uv_close((uv_handle_t *)&w.poll, close_cb);
  uv_close((uv_handle_t *)&w.mhd_timer, close_cb);
  uv_close((uv_handle_t *)&w.idle_timer, close_cb);
  uv_close((uv_handle_t *)&w.sigint, close_cb);
  uv_close((uv_handle_t *)&w.sigterm, close_cb);
  uv_run(w.loop, UV_RUN_DEFAULT);
  MHD_stop_daemon(w.d);
  web_lock(&w);
  json_decref(w.sync_progress);
  json_decref(w.sync_last);
  explicit_bzero(w.session, sizeof w.session);
  explicit_bzero(w.csrf, sizeof w.csrf);
  return 0;
}
