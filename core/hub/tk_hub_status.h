/*
 * tk_hub_status.h: a running hub's status and metrics, and the control
 * socket that `tundukd status` asks them through.
 *
 * The control socket is HOME/control.sock, an AF_UNIX stream socket the
 * serving hub makes (mode 0600) and serves on its loop: a client sends one
 * request line ("status"), the hub answers with one JSON object and a
 * newline, and closes. A peer whose uid (SO_PEERCRED) is not the hub's is
 * answered {"error": ...} and closed; so is a request past
 * TK_HUB_CONTROL_MAX_REQUEST bytes, one that does not end within
 * TK_HUB_CONTROL_TIMEOUT_MS, and a connection past
 * TK_HUB_CONTROL_MAX_CLIENTS at once. A socket file left by a hub that
 * crashed is replaced at the next start when nothing answers on it.
 *
 * The status object (README, "Status and metrics"; its keys are stable):
 * version, pid, home, hub_id, started and now (unix seconds), uptime_s,
 * listen, metrics (address or null), connections {now, authenticated,
 * total, max}, syncs, devices [{id, name, revoked, connected, last_seen,
 * last_session}], quarantine {held, refused}, store {file_bytes,
 * wal_bytes, revisions, chunks, chunk_bytes}, backup {last, age_s}.
 *
 * Threads: tk_hub_status_json, tk_hub_metrics_text and
 * tk_hub_set_metrics_addr on the hub's loop thread; tk_hub_control_ask
 * and tk_hub_control_path anywhere (a client: blocking, bounded).
 */
#ifndef TK_HUB_STATUS_H
#define TK_HUB_STATUS_H

#include <jansson.h>

#include "tk_hub.h"

#define TK_HUB_CONTROL_SOCK "control.sock"
#define TK_HUB_CONTROL_MAX_REQUEST 256u       /* bytes of a request line */
#define TK_HUB_CONTROL_MAX_CLIENTS 8u         /* control connections at once */
#define TK_HUB_CONTROL_TIMEOUT_MS 5000u       /* for the request, and the client's wait */
#define TK_HUB_CONTROL_MAX_ANSWER (16u << 20) /* bytes a client reads at most */

/* HOME/control.sock into out. TK_ELIMIT when it does not fit cap or an
 * AF_UNIX address (107 bytes). */
int tk_hub_control_path(char *out, size_t cap, const char *home, tk_err_t *err);

/* Asks the hub serving home: sends request, reads the answer (a JSON text,
 * NUL-terminated, into *answer: the caller frees it). TK_ENOTFOUND: no
 * control socket (no hub runs there); TK_ECLOSED: a socket nothing answers
 * on (a hub that stopped without removing it, or crashed); TK_EACCESS: not
 * allowed (the socket or the hub refused this user); TK_ETIMEDOUT,
 * TK_EPROTO (no answer, one over TK_HUB_CONTROL_MAX_ANSWER). */
int tk_hub_control_ask(const char *home, const char *request, char **answer,
                       tk_err_t *err);

/* The status object above (new reference), NULL if out of memory. A part
 * the store cannot give (its sizes) is left out with "errors" saying why. */
json_t *tk_hub_status_json(tk_hub_t *h);
/* The counters in Prometheus text exposition format 0.0.4, appended to out.
 * 0 or TK_ENOMEM. */
int tk_hub_metrics_text(tk_hub_t *h, tk_buf_t *out);
/* Where tundukd serves the metrics (shown by status); NULL: off. */
void tk_hub_set_metrics_addr(tk_hub_t *h, const char *addr);

#endif
