/*
 * hub_control.c: the hub's control socket (tk_hub_status.h): the server,
 * a uv_pipe on the hub's loop, and the client `tundukd status` uses.
 *
 * Who may ask: the socket is made mode 0600 before it listens (no
 * connection can be accepted before the chmod), in the home folder, which
 * is the hub's own (0700); and every accepted peer's uid (SO_PEERCRED) must
 * be the hub's, so root, which passes file modes, is refused too. Bounds:
 * TK_HUB_CONTROL_MAX_CLIENTS connections at once (one more is answered an
 * error and closed), one request line of at most TK_HUB_CONTROL_MAX_REQUEST
 * bytes, TK_HUB_CONTROL_TIMEOUT_MS from the accept to the answer.
 *
 * A socket file at the path when the hub starts: if something answers on
 * it, another process serves this home and the start fails; if nothing
 * does (ECONNREFUSED: a hub that crashed left it), it is removed and made
 * again. Anything else at the path (a file, a folder) is not touched and
 * the start fails naming it. tk_hub_stop closes it and removes the file.
 *
 * Threads: the server on the loop's thread; the client anywhere (blocking,
 * with a deadline).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "hub_internal.h"

typedef struct ctl_client ctl_client_t;

struct hub_control {
  uv_pipe_t server;
  int open, bound, closing; /* bound: the file at path is ours to remove */
  char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
  tk_hub_t *hub;
  unsigned nclients;
  ctl_client_t *clients;
};

struct ctl_client {
  uv_pipe_t pipe;
  uv_timer_t timer;
  struct hub_control *c;
  ctl_client_t *prev, *next;
  char req[TK_HUB_CONTROL_MAX_REQUEST + 1];
  size_t n;
  int handles; /* open handles: freed when the last one closed */
  int closing, answering, written, eof;
  uv_write_t wr;
  uv_shutdown_t sd;
  char *answer;
  char drain[256]; /* what comes after the request, read and dropped */
};

int tk_hub_control_path(char *out, size_t cap, const char *home, tk_err_t *err)
{
  struct sockaddr_un sa;
  int n = snprintf(out, cap, "%s/%s", home, TK_HUB_CONTROL_SOCK);
  if (n < 0 || (size_t)n >= cap || (size_t)n >= sizeof sa.sun_path)
    return tk_err_set(err, TK_ELIMIT,
                      "the control socket's path %s/%s is longer than the %zu bytes a "
                      "local socket's address holds; use a shorter --home",
                      home, TK_HUB_CONTROL_SOCK, sizeof sa.sun_path - 1);
  return 0;
}

/* ---- the server ------------------------------------------------------------ */

static void client_closed(uv_handle_t *hd)
{
  ctl_client_t *k = hd->data;
  if (--k->handles > 0) return;
  struct hub_control *c = k->c;
  if (k->prev)
    k->prev->next = k->next;
  else
    c->clients = k->next;
  if (k->next) k->next->prev = k->prev;
  c->nclients--;
  free(k->answer);
  free(k);
}

static void client_close(ctl_client_t *k)
{
  if (k->closing) return;
  k->closing = 1;
  uv_close((uv_handle_t *)&k->pipe, client_closed);
  uv_close((uv_handle_t *)&k->timer, client_closed);
}

static void client_close_timer(uv_timer_t *t)
{
  client_close(t->data);
}

static void on_shutdown(uv_shutdown_t *sd, int status)
{
  (void)sd;
  (void)status; /* the peer's EOF, or the timer, closes */
}

/* The answer is out: our side ends (the peer reads EOF), and what the peer
 * still sends is read and dropped until its EOF: closing with unread bytes
 * would reset the connection before the peer has read the answer. */
static void on_written(uv_write_t *wr, int status)
{
  ctl_client_t *k = wr->data;
  k->written = 1;
  if (status < 0 || k->closing || k->eof ||
      uv_shutdown(&k->sd, (uv_stream_t *)&k->pipe, on_shutdown) != 0) {
    client_close(k);
    return;
  }
  uv_timer_start(&k->timer, client_close_timer, 1000, 0);
}

/* Sends text (taken: freed with the client) and closes after it. */
static void client_answer(ctl_client_t *k, char *text)
{
  if (k->answering || k->closing || !text) {
    free(text);
    if (!k->answering) client_close(k);
    return;
  }
  k->answering = 1;
  k->answer = text;
  uv_buf_t buf = uv_buf_init(text, (unsigned)strlen(text));
  k->wr.data = k;
  if (uv_write(&k->wr, (uv_stream_t *)&k->pipe, &buf, 1, on_written) != 0)
    client_close(k);
}

static char *error_text(const char *code, const char *msg)
{
  json_t *j = json_pack("{s:s,s:s}", "error", msg, "code", code);
  char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
  json_decref(j);
  char *t = s ? malloc(strlen(s) + 2) : NULL;
  if (t) sprintf(t, "%s\n", s);
  free(s);
  return t;
}

static void client_request(ctl_client_t *k)
{
  char *line = k->req;
  size_t n = strcspn(line, "\r\n");
  line[n] = '\0';
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)line[i] < 0x20 || (unsigned char)line[i] > 0x7e) {
      client_answer(k, error_text("request", "the request is not a line of text"));
      return;
    }
  if (strcmp(line, "status") != 0) {
    char msg[TK_HUB_CONTROL_MAX_REQUEST + 64];
    snprintf(msg, sizeof msg, "unknown request '%s' (known: status)", line);
    client_answer(k, error_text("request", msg));
    return;
  }
  json_t *j = tk_hub_status_json(k->c->hub);
  char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
  json_decref(j);
  char *t = s ? malloc(strlen(s) + 2) : NULL;
  if (t) sprintf(t, "%s\n", s);
  free(s);
  client_answer(k, t ? t : error_text("internal", "out of memory"));
}

static void on_alloc(uv_handle_t *hd, size_t suggested, uv_buf_t *buf)
{
  ctl_client_t *k = hd->data;
  (void)suggested;
  if (k->answering) {
    *buf = uv_buf_init(k->drain, sizeof k->drain);
    return;
  }
  /* one byte past the limit is read, to tell a request that is too long */
  *buf = uv_buf_init(k->req + k->n, (unsigned)(sizeof k->req - 1 - k->n));
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
  ctl_client_t *k = st->data;
  (void)buf;
  if (k->closing) return;
  if (k->answering) { /* dropped; its end closes, once the answer is out */
    if (nread < 0 && k->written) client_close(k);
    if (nread < 0) k->eof = 1;
    return;
  }
  if (nread < 0) {
    if (nread == UV_EOF && k->n > 0) {
      k->req[k->n] = '\0';
      client_request(k);
    } else {
      client_close(k);
    }
    return;
  }
  k->n += (size_t)nread;
  k->req[k->n] = '\0';
  if (memchr(k->req, '\n', k->n)) {
    client_request(k);
  } else if (k->n >= sizeof k->req - 1) {
    char msg[96];
    snprintf(msg, sizeof msg, "the request is longer than %u bytes",
             TK_HUB_CONTROL_MAX_REQUEST);
    client_answer(k, error_text("limit", msg));
  }
}

static void on_timeout(uv_timer_t *t)
{
  ctl_client_t *k = t->data;
  TK_LOG(TK_LOG_INFO, "hub",
         "control: closed a connection that asked nothing within %u ms",
         TK_HUB_CONTROL_TIMEOUT_MS);
  client_close(k);
}

static void on_control(uv_stream_t *server, int status)
{
  struct hub_control *c = server->data;
  if (status < 0 || c->closing) return;
  ctl_client_t *k = calloc(1, sizeof *k);
  if (!k) return;
  k->c = c;
  uv_pipe_init(c->hub->loop, &k->pipe, 0);
  uv_timer_init(c->hub->loop, &k->timer);
  k->pipe.data = k->timer.data = k;
  k->handles = 2;
  k->next = c->clients;
  if (c->clients) c->clients->prev = k;
  c->clients = k;
  c->nclients++;
  if (uv_accept(server, (uv_stream_t *)&k->pipe) != 0) {
    client_close(k);
    return;
  }
  uv_timer_start(&k->timer, on_timeout, TK_HUB_CONTROL_TIMEOUT_MS, 0);
  struct ucred cred;
  socklen_t len = sizeof cred;
  uv_os_fd_t fd;
  if (uv_fileno((uv_handle_t *)&k->pipe, &fd) != 0 ||
      getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    client_answer(k, error_text("peer", "cannot tell who is asking (SO_PEERCRED)"));
    return;
  }
  if (cred.uid != geteuid()) {
    char msg[160];
    TK_LOG(TK_LOG_WARN, "hub", "control: refused uid=%u pid=%d (only uid %u may ask)",
           (unsigned)cred.uid, (int)cred.pid, (unsigned)geteuid());
    snprintf(msg, sizeof msg, "only the hub's user (uid %u) may ask it; you are uid %u",
             (unsigned)geteuid(), (unsigned)cred.uid);
    client_answer(k, error_text("uid", msg));
    return;
  }
  if (c->nclients > TK_HUB_CONTROL_MAX_CLIENTS) {
    char msg[96];
    snprintf(msg, sizeof msg, "busy: %u control connections are open; try again",
             TK_HUB_CONTROL_MAX_CLIENTS);
    client_answer(k, error_text("busy", msg));
    return;
  }
  if (uv_read_start((uv_stream_t *)&k->pipe, on_alloc, on_read) != 0) client_close(k);
}

/* 1 if something accepts a connection on path. */
static int answers(const char *path)
{
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  int ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 || errno != ECONNREFUSED;
  close(fd);
  return ok;
}

int tk__hub_control_start(tk_hub_t *h, tk_err_t *err)
{
  char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
  tk_err_t e;
  const char *home = tk_office_home_dir(h->home);
  if (tk_hub_control_path(path, sizeof path, home, &e) != 0) {
    /* the hub serves all the same; `tundukd status` says why it cannot ask */
    TK_LOG(TK_LOG_WARN, "hub", "no control socket: %s", tk_err_str(&e));
    return 0;
  }
  struct stat sb;
  if (lstat(path, &sb) == 0) {
    if (!S_ISSOCK(sb.st_mode))
      return tk_err_set(err, TK_EEXIST,
                        "%s is there and is not a socket; the hub makes its control "
                        "socket there: move that file away",
                        path);
    if (answers(path))
      return tk_err_set(err, TK_EBUSY,
                        "another process answers on %s: a hub may be serving this home "
                        "already",
                        path);
    if (unlink(path) != 0)
      return tk_err_set(err, TK_EIO, "cannot remove the stale socket %s: %s", path,
                        strerror(errno));
    TK_LOG(TK_LOG_INFO, "hub", "control: replaced the stale socket %s (nothing answered)",
           path);
  }
  struct hub_control *c = calloc(1, sizeof *c);
  if (!c) return tk_err_set(err, TK_ENOMEM, "out of memory for the control socket");
  c->hub = h;
  snprintf(c->path, sizeof c->path, "%s", path);
  uv_pipe_init(h->loop, &c->server, 0);
  c->server.data = c;
  c->open = 1;
  h->control = c; /* closed by tk__hub_control_stop, freed with the hub */
  int r = uv_pipe_bind(&c->server, path);
  if (r)
    return tk_err_set(err, TK_EIO, "cannot make the control socket %s: %s", path,
                      uv_strerror(r));
  c->bound = 1;
  /* owner only, before it accepts anything (listen comes after) */
  if (chmod(path, 0600) != 0) {
    int en = errno;
    unlink(path);
    return tk_err_set(err, TK_EIO, "cannot restrict %s to its owner: %s", path,
                      strerror(en));
  }
  r = uv_listen((uv_stream_t *)&c->server, 8, on_control);
  if (r) {
    unlink(path);
    return tk_err_set(err, TK_EIO, "cannot listen on %s: %s", path, uv_strerror(r));
  }
  TK_LOG(TK_LOG_INFO, "hub", "control socket path=%s", path);
  return 0;
}

void tk__hub_control_stop(tk_hub_t *h)
{
  struct hub_control *c = h->control;
  if (!c || c->closing) return;
  c->closing = 1;
  if (c->open) uv_close((uv_handle_t *)&c->server, NULL);
  if (c->bound) unlink(c->path);
  for (ctl_client_t *k = c->clients; k; k = k->next)
    client_close(k);
}

void tk__hub_control_free(tk_hub_t *h)
{
  free(h->control); /* every handle closed: the loop has ended */
  h->control = NULL;
}

/* ---- the client -------------------------------------------------------------- */

static uint64_t now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Waits for fd to be ready for events until deadline (ms): 0, or
 * TK_ETIMEDOUT. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
  for (;;) {
    uint64_t now = now_ms();
    if (now >= deadline) return TK_ETIMEDOUT;
    struct pollfd p = {fd, events, 0};
    int r = poll(&p, 1, (int)(deadline - now));
    if (r > 0) return 0;
    if (r < 0 && errno != EINTR) return TK_EIO;
  }
}

int tk_hub_control_ask(const char *home, const char *request, char **answer,
                       tk_err_t *err)
{
  char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
  struct sockaddr_un sa;
  struct stat sb;
  *answer = NULL;
  int rc = tk_hub_control_path(path, sizeof path, home, err);
  if (rc) return rc;
  if (lstat(path, &sb) != 0) {
    if (errno == ENOENT)
      return tk_err_set(err, TK_ENOTFOUND, "no hub is running on %s (no %s)", home, path);
    if (errno == EACCES)
      return tk_err_set(err, TK_EACCESS,
                        "cannot look into %s: permission denied (run this as the hub's "
                        "user)",
                        home);
    return tk_err_set(err, TK_EIO, "cannot read %s: %s", path, strerror(errno));
  }
  if (!S_ISSOCK(sb.st_mode))
    return tk_err_set(err, TK_ENOTFOUND, "no hub is running on %s (%s is not a socket)",
                      home, path);
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return tk_err_set(err, TK_EIO, "cannot make a socket: %s", strerror(errno));
  tk_buf_t in = TK_BUF_INIT;
  uint64_t deadline = now_ms() + TK_HUB_CONTROL_TIMEOUT_MS;
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    int en = errno;
    if (en == ECONNREFUSED || en == ENOENT) {
      rc = tk_err_set(err, TK_ECLOSED,
                      "no hub is running on %s (nothing answers on %s, left by a hub "
                      "that did not stop cleanly)",
                      home, path);
    } else if (en == EACCES || en == EPERM) {
      struct passwd *pw = getpwuid(sb.st_uid);
      rc = tk_err_set(err, TK_EACCESS,
                      "%s: permission denied; the hub runs as %s%s(uid %u): ask as that "
                      "user (sudo -u %s tundukd --home %s status)",
                      path, pw ? pw->pw_name : "", pw ? " " : "", (unsigned)sb.st_uid,
                      pw ? pw->pw_name : "USER", home);
    } else {
      rc = tk_err_set(err, TK_EIO, "cannot connect to %s: %s", path, strerror(en));
    }
    goto done;
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  char line[TK_HUB_CONTROL_MAX_REQUEST + 2];
  int n = snprintf(line, sizeof line, "%s\n", request);
  if (n < 0 || (size_t)n >= sizeof line) {
    rc = tk_err_set(err, TK_ELIMIT, "control request longer than %u bytes",
                    TK_HUB_CONTROL_MAX_REQUEST);
    goto done;
  }
  for (size_t off = 0; off < (size_t)n;) {
    ssize_t w = send(fd, line + off, (size_t)n - off, MSG_NOSIGNAL);
    if (w > 0) {
      off += (size_t)w;
    } else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
      if ((rc = wait_fd(fd, POLLOUT, deadline)) != 0) break;
    } else {
      break; /* the hub closed: read what it said */
    }
  }
  rc = 0;
  for (;;) {
    if (tk_buf_reserve(&in, 4096) < 0) {
      rc = tk_err_set(err, TK_ENOMEM, "out of memory for the hub's answer");
      goto done;
    }
    ssize_t r = recv(fd, in.p + in.n, 4096, 0);
    if (r > 0) {
      in.n += (size_t)r;
      if (in.n > TK_HUB_CONTROL_MAX_ANSWER) {
        rc = tk_err_set(err, TK_EPROTO, "the hub's answer is longer than %u bytes",
                        TK_HUB_CONTROL_MAX_ANSWER);
        goto done;
      }
    } else if (r == 0) {
      break;
    } else if (errno == EAGAIN || errno == EINTR) {
      if (wait_fd(fd, POLLIN, deadline) != 0) {
        rc = tk_err_set(err, TK_ETIMEDOUT, "the hub on %s did not answer within %u ms",
                        home, TK_HUB_CONTROL_TIMEOUT_MS);
        goto done;
      }
    } else {
      rc = tk_err_set(err, TK_EIO, "reading the hub's answer: %s", strerror(errno));
      goto done;
    }
  }
  if (in.n == 0) {
    rc = tk_err_set(err, TK_EPROTO, "the hub on %s closed without an answer", home);
    goto done;
  }
  *answer = malloc(in.n + 1);
  if (!*answer) {
    rc = tk_err_set(err, TK_ENOMEM, "out of memory for the hub's answer");
    goto done;
  }
  memcpy(*answer, in.p, in.n);
  (*answer)[in.n] = '\0';
done:
  tk_buf_free(&in);
  close(fd);
  return rc;
}
