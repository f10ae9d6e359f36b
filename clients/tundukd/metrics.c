/*
 * metrics.c: `serve`'s optional metrics endpoint (config `metrics`, off by
 * default): GET /metrics answers the hub's counters in Prometheus text
 * exposition format 0.0.4 (tk_hub_metrics_text). libmicrohttpd runs in
 * external-loop mode on the hub's libuv loop, as the office web UI does
 * (clients/web/web.c): its epoll descriptor is one uv_poll handle, its
 * timeout one uv_timer, so the counters are read on the loop's thread
 * that changes them. The address is loopback only (config.c refuses any
 * other): the metrics are not authenticated. Bounded: 16 connections at
 * once, 4 from one address, 10 s per connection, 32 KiB of memory each;
 * no request body is read.
 *
 * libmicrohttpd (and the GnuTLS it links) is loaded with dlopen only when
 * the metrics are configured: linked, it cost every hub about 1.7 MiB of
 * idle RSS, metrics on or off. The package that ships tundukd ships tunduk,
 * which links it, so the library is installed wherever tundukd is.
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tk_hub_status.h"
#include "tk_token.h"
#include "tundukd.h"

/* The library's functions, from dlopen (load_mhd). */
#define MHD_FUNCS(X)                                                                     \
  X(MHD_start_daemon)                                                                    \
  X(MHD_stop_daemon)                                                                     \
  X(MHD_run)                                                                             \
  X(MHD_get_timeout)                                                                     \
  X(MHD_get_daemon_info)                                                                 \
  X(MHD_create_response_from_buffer)                                                     \
  X(MHD_add_response_header)                                                             \
  X(MHD_queue_response)                                                                  \
  X(MHD_destroy_response)
#define MHD_PTR(f) static __typeof__(f) *p_##f;
MHD_FUNCS(MHD_PTR)
#define MHD_SONAME "libmicrohttpd.so.12"

static struct {
  void *lib;
  struct MHD_Daemon *d;
  uv_poll_t poll;
  uv_timer_t timer;
  tk_hub_t *hub;
  int on, stopping;
} m;

static enum MHD_Result answer(struct MHD_Connection *conn, unsigned status,
                              const char *type, const void *p, size_t n)
{
  struct MHD_Response *r =
      p_MHD_create_response_from_buffer(n, (void *)p, MHD_RESPMEM_MUST_COPY);
  if (!r) return MHD_NO;
  p_MHD_add_response_header(r, "Content-Type", type);
  p_MHD_add_response_header(r, "Cache-Control", "no-store");
  if (status == MHD_HTTP_METHOD_NOT_ALLOWED) p_MHD_add_response_header(r, "Allow", "GET");
  enum MHD_Result ret = p_MHD_queue_response(conn, status, r);
  p_MHD_destroy_response(r);
  return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **con_cls)
{
  static int first;
  (void)cls;
  (void)version;
  (void)upload;
  if (!*con_cls) { /* the headers are in; answer at the next call */
    *con_cls = &first;
    return MHD_YES;
  }
  *upload_size = 0; /* a body is not read */
  static const char text[] = "text/plain; charset=utf-8";
  if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
    return answer(conn, MHD_HTTP_METHOD_NOT_ALLOWED, text, "GET only\n", 9);
  if (strcmp(url, "/metrics") != 0)
    return answer(conn, MHD_HTTP_NOT_FOUND, text, "only /metrics is here\n", 22);
  tk_buf_t b = TK_BUF_INIT;
  enum MHD_Result ret;
  if (tk_hub_metrics_text(m.hub, &b) != 0)
    ret = answer(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, text, "out of memory\n", 14);
  else
    ret = answer(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", b.p, b.n);
  tk_buf_free(&b);
  return ret;
}

static void mhd_run(void);

static void on_timer(uv_timer_t *t)
{
  (void)t;
  mhd_run();
}

static void on_poll(uv_poll_t *p, int status, int events)
{
  (void)p;
  (void)status;
  (void)events;
  mhd_run();
}

/* Lets MHD do what is ready, then arms the timer for what it waits on. */
static void mhd_run(void)
{
  if (m.stopping) return;
  p_MHD_run(m.d);
  MHD_UNSIGNED_LONG_LONG to = 0;
  uint64_t ms = 1000;
  if (p_MHD_get_timeout(m.d, &to) == MHD_YES) ms = to < 1000 ? to : 1000;
  uv_timer_start(&m.timer, on_timer, ms, 0);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
  char line[512];
  (void)cls;
  vsnprintf(line, sizeof line, fmt, ap);
  line[strcspn(line, "\n")] = '\0';
  TK_LOG(TK_LOG_WARN, "metrics", "%s", line);
}

/* Loads libmicrohttpd: 0, or TK_EIO naming what is missing. */
static int load_mhd(tk_err_t *err)
{
  if (m.lib) return 0;
  m.lib = dlopen(MHD_SONAME, RTLD_NOW | RTLD_LOCAL);
  if (!m.lib)
    return tk_err_set(err, TK_EIO,
                      "the metrics need %s (Debian package libmicrohttpd12): %s",
                      MHD_SONAME, dlerror());
#define MHD_SYM(f)                                                                       \
  if (!(*(void **)&p_##f = dlsym(m.lib, #f)))                                            \
    return tk_err_set(err, TK_EIO, "%s has no %s", MHD_SONAME, #f);
  MHD_FUNCS(MHD_SYM)
  return 0;
}

int tundukd_metrics_start(uv_loop_t *loop, tk_hub_t *hub, const char *addr, tk_err_t *err)
{
  char host[TK_TOKEN_MAX_ADDR + 1];
  int port;
  struct sockaddr_storage ss;
  unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
  memset(&ss, 0, sizeof ss);
  if (tk_addr_split(addr, host, &port) != 0)
    return tk_err_set(err, TK_EINVAL, "metrics address '%s' is not host:port", addr);
  if (strchr(host, ':')) {
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons((uint16_t)port);
    if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
      return tk_err_set(err, TK_EINVAL, "metrics address '%s' is not an address", addr);
    flags |= MHD_USE_IPv6;
  } else {
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
      return tk_err_set(err, TK_EINVAL, "metrics address '%s' is not an address", addr);
  }
  int rc = load_mhd(err);
  if (rc) return rc;
  m.hub = hub;
  m.d = p_MHD_start_daemon(
      flags, (uint16_t)port, NULL, NULL, on_request, NULL, MHD_OPTION_EXTERNAL_LOGGER,
      mhd_log, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
      MHD_OPTION_CONNECTION_LIMIT, (unsigned)16, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
      (unsigned)4, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(32u << 10), MHD_OPTION_END);
  if (!m.d)
    return tk_err_set(err, TK_EIO, "cannot serve the metrics on %s: %s", addr,
                      strerror(errno ? errno : EADDRINUSE));
  const union MHD_DaemonInfo *bp = p_MHD_get_daemon_info(m.d, MHD_DAEMON_INFO_BIND_PORT);
  const union MHD_DaemonInfo *ep = p_MHD_get_daemon_info(m.d, MHD_DAEMON_INFO_EPOLL_FD);
  if (!ep) {
    p_MHD_stop_daemon(m.d);
    m.d = NULL;
    return tk_err_set(err, TK_EIO, "the HTTP library has no epoll descriptor");
  }
  char where[TK_TOKEN_MAX_ADDR + 16];
  snprintf(where, sizeof where, strchr(host, ':') ? "[%s]:%u" : "%s:%u", host,
           bp ? (unsigned)bp->port : (unsigned)port);
  uv_poll_init(loop, &m.poll, ep->epoll_fd);
  uv_timer_init(loop, &m.timer);
  uv_poll_start(&m.poll, UV_READABLE, on_poll);
  m.on = 1;
  mhd_run();
  tk_hub_set_metrics_addr(hub, where);
  TK_LOG(TK_LOG_INFO, "metrics", "serving GET /metrics addr=%s", where);
  return 0;
}

void tundukd_metrics_stop(void)
{
  if (!m.on || m.stopping) return;
  m.stopping = 1;
  uv_poll_stop(&m.poll);
  uv_close((uv_handle_t *)&m.poll, NULL);
  uv_close((uv_handle_t *)&m.timer, NULL);
}

void tundukd_metrics_free(void)
{
  if (m.d) p_MHD_stop_daemon(m.d);
  m.d = NULL;
  m.on = 0;
}
