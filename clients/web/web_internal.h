/*
 * web_internal.h: what the files of the office web UI share (README, "The
 * web UI"). web.c runs libmicrohttpd on the libuv loop and makes every
 * request pass the checks (Host, session cookie, CSRF header, Origin)
 * before a handler sees it; web_api*.c are the handlers of /api/, each a
 * thin call of the office API (tk_office.h) that adds no rule of its own;
 * web_assets.c (generated from clients/web/assets/) holds the page.
 *
 * Threads: one, the loop's. Every office call runs on it, one at a time.
 */
#ifndef TK_WEB_INTERNAL_H
#define TK_WEB_INTERNAL_H

#include <jansson.h>
#include <microhttpd.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "tk_office.h"
#include "web.h"

#define WEB_TOKEN_LEN 43        /* base64url of 32 random bytes */
#define WEB_MAX_JSON (4u << 20) /* bytes of a request's JSON body */
#define WEB_MAX_SEGMENTS 8      /* of a path */
#define WEB_MAX_URL 2048        /* bytes of a request's path and query */
#define WEB_IDLE_DEFAULT_MIN 15 /* minutes without a request before locking */
#define WEB_IDLE_MAX_MIN 480

typedef struct web web_t;
typedef struct web_req web_req_t;

/* A route: method and path pattern ("/api/records/ * /history": "*" is one
 * segment, handed to the handler in r->seg[]). flags below. */
enum {
  WEB_KEYS = 1,   /* needs the office unlocked (else 423) */
  WEB_WRITE = 2,  /* changes the store: refused while a sync runs (409) */
  WEB_STREAM = 4, /* the body goes to stream(), not into r->body */
  WEB_QUIET = 8   /* a background poll: not activity for the idle lock */
};
typedef struct web_route {
  const char *method, *pattern;
  int flags;
  /* the answer (web_json, web_fail, ...); the return value is MHD's */
  enum MHD_Result (*handle)(web_t *w, web_req_t *r);
  /* WEB_STREAM: each piece of the body as it arrives (0, or a failure that
   * ends the request with handle() seeing r->stream_rc) */
  int (*stream)(web_t *w, web_req_t *r, const char *p, size_t n);
  /* WEB_STREAM: the request ended before its body did (a cut) */
  void (*abort)(web_t *w, web_req_t *r);
} web_route_t;

/* One request, from its first call to its answer. */
struct web_req {
  struct MHD_Connection *conn;
  const web_route_t *route;
  const char *method, *url;
  char path[WEB_MAX_URL];
  char *seg[WEB_MAX_SEGMENTS]; /* the "*" segments, decoded, in order */
  int nseg;
  char *body; /* a JSON request's body (NUL-terminated), wiped when freed */
  size_t body_len;
  int refused;   /* answered before the body (a check failed) */
  int too_big;   /* the body passed WEB_MAX_JSON */
  int stream_rc; /* WEB_STREAM: the first failure of stream() */
  tk_err_t stream_err;
  int answered;
  void *state;                     /* a handler's own (WEB_STREAM) */
  void (*state_free)(void *state); /* frees it when the request ends */
};

/* The server. */
struct web {
  tk_office_t *o;
  uv_loop_t *loop;
  struct MHD_Daemon *d;
  uv_poll_t poll;
  uv_timer_t mhd_timer, idle_timer;
  uv_signal_t sigint, sigterm;
  uint16_t port;
  char origin[2][48]; /* http://127.0.0.1:P, http://localhost:P */
  char host[2][40];   /* 127.0.0.1:P, localhost:P */
  char launch[WEB_TOKEN_LEN + 1];
  int launch_used;
  char session[WEB_TOKEN_LEN + 1]; /* "" until the launch */
  char csrf[WEB_TOKEN_LEN + 1];
  const char *home; /* tk_web_opts_t's */
  uint64_t last_activity_ms;
  uint64_t idle_ms; /* lock after this long without activity */
  /* the running sync, if any, and the last one's outcome */
  tk_office_sync_run_t *sync;
  json_t *sync_progress;
  json_t *sync_last;
  /* every record's listing with its decrypted body, for the list and its
   * search (memory only: dropped on lock; rebuilt when the store's data
   * version moves) */
  struct web_entry *list;
  size_t nlist, caplist;
  uint64_t list_version;
  int stopping;
};

/* ---- answers (web.c) ------------------------------------------------------------- */

/* j (stolen) as JSON with status. */
enum MHD_Result web_json(web_req_t *r, unsigned status, json_t *j);
/* {"error": {code, message}} with status; problems (borrowed, may be NULL)
 * added when non-empty. */
enum MHD_Result web_error(web_req_t *r, unsigned status, const char *code,
                          const char *message, const tk_office_problems_t *problems);
/* The office's failure rc/err as the answer its code calls for (EINVAL 400
 * or, with problems, 422; ENOTFOUND 404; EEXIST 409; ELIMIT 413; EPASS 423;
 * EACCESS 403; ...). */
enum MHD_Result web_fail(web_req_t *r, int rc, const tk_err_t *err,
                         const tk_office_problems_t *problems);
/* bytes (copied) with a media type; disposition NULL or a Content-Disposition. */
enum MHD_Result web_bytes(web_req_t *r, unsigned status, const char *media_type,
                          const void *p, size_t n, const char *disposition);
/* An answer made by the caller (status, headers added here). */
enum MHD_Result web_queue(web_req_t *r, unsigned status, struct MHD_Response *resp);

/* The request's JSON body as an object: NULL with the answer queued (400
 * naming the problem) when it is missing or not an object. */
json_t *web_body(web_req_t *r, enum MHD_Result *ret);
/* A query argument, or NULL. */
const char *web_arg(web_req_t *r, const char *key);

/* The session object (GET /api/session). */
json_t *web_session_json(web_t *w);
/* Drops every decrypted body the server holds (lock). */
void web_cache_drop(web_t *w);
/* Locks the office (keys wiped) and drops the cache. */
void web_lock(web_t *w);
/* The idle time from the setting ui_idle_minutes (TUNDUK_UI_IDLE_SECONDS
 * shortens it for tests). */
void web_idle_load(web_t *w);

/* ---- the handlers of web_api_files.c (in web_routes) ---- */
enum MHD_Result web_attach_list(web_t *w, web_req_t *r);
enum MHD_Result web_attach_get(web_t *w, web_req_t *r);
enum MHD_Result web_attach_put(web_t *w, web_req_t *r);
int web_attach_data(web_t *w, web_req_t *r, const char *p, size_t n);
void web_attach_abort(web_t *w, web_req_t *r);
enum MHD_Result web_report(web_t *w, web_req_t *r);
enum MHD_Result web_export(web_t *w, web_req_t *r);
/* The ids of the records GET /api/records's filters in r's query match
 * (web_api.c); *type the type filter. NULL with *rc and err on failure. */
json_t *web_list_ids(web_t *w, web_req_t *r, const char **type, tk_err_t *err, int *rc);

/* ---- the routes (web_api.c, web_api_*.c) ----------------------------------------- */

extern const web_route_t web_routes[];
extern const size_t web_nroutes;

/* ---- the page (web_assets.c, generated) ------------------------------------------ */

typedef struct web_asset {
  const char *path; /* "/index.html" */
  const char *media_type;
  const unsigned char *data;
  size_t len;
} web_asset_t;
extern const web_asset_t web_assets[];
extern const size_t web_nassets;

#endif
