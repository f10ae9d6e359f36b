/*
 * tk_hub.h: the hub: a listening socket, one session per connected
 * device, and the hub's side of every exchange in PROTOCOL.md (hello and
 * pinning, enrollment, push, pull, device queries, grants). Revoking a
 * device in the store (from another process) closes its sessions within
 * about a second. Until a connection has authenticated it gets a small
 * frame limit, a deadline and a bounded, evicting share of connections
 * (hub_preauth.c); authenticated sessions count against max_connections.
 *
 * Threads: the sessions run on the loop's thread, and so do the store
 * reads (the hub's own connection; WAL gives each a snapshot of the last
 * commit). Every store write (a pushed batch with its checks, a chunk, a
 * grant, a LogPut, an enrollment) runs on one store thread with its own connection,
 * one transaction per job in arrival order, while its session reads
 * nothing; its Ack is sent from the loop after the commit (hub_store.c,
 * tk_store_thread.h), so a commit never holds up another session's I/O.
 * Moderation: a pushed batch's rules run in the loop's threadpool, calling
 * the plugin set's jailed worker processes (hub.c). tk_hub_stop lets the
 * queued writes finish (committed, not acknowledged) before the loop ends.
 * Without a loop (tests, fuzzing) the writes run inline on the caller's
 * thread.
 */
#ifndef TK_HUB_H
#define TK_HUB_H

#include <uv.h>

#include "tk_config.h"
#include "tk_conn.h"
#include "tk_office_engine.h"

typedef struct tk_hub tk_hub_t;

/* A hub serving the store and identity of home (opened and unlocked by
 * the caller, who keeps it open until tk_hub_free). */
int tk_hub_new(tk_hub_t **out, uv_loop_t *loop, tk_office_t *home, const tk_config_t *cfg,
               tk_err_t *err);
/* Binds cfg->listen and starts accepting; logs the address it listens on. */
int tk_hub_listen(tk_hub_t *h, tk_err_t *err);
/* Stops accepting, tells connected devices the hub is stopping and closes
 * every connection; the loop ends once all handles are closed. Safe to
 * call more than once. */
void tk_hub_stop(tk_hub_t *h);
/* Frees the hub after its loop has ended. */
void tk_hub_free(tk_hub_t *h);
/* Loads the hub's plugin layers (tk_hub_plugin_layers) into a new set and
 * swaps it in; on failure (a layer that must be there cannot be read) the
 * running set stays. A plugin file that fails to load is logged with
 * file:line, and in its place runs the version the running set had of it
 * (else a lower layer's file of that name, else none). */
int tk_hub_reload_plugins(tk_hub_t *h, tk_err_t *err);

/* The hub's plugin layers, lowest first, as an office's (tk_office_plugins.h):
 * "bundled", the installation's (tk_install_plugin_dir, not
 * $TUNDUK_PLUGINS; may be missing); "set",
 * HOME/plugin-set (an organisation's plugin set, if received); "home", the
 * config's `plugins` folder (must be there) or else HOME/plugins (may be
 * missing). For the reload and for `tundukd plugin test`. */
struct tk_office_layers;
int tk_hub_plugin_layers(const tk_config_t *cfg, const char *home,
                         struct tk_office_layers *out, tk_err_t *err);
/* Takes a re-read config (SIGHUP): each setting the hub reads as it goes
 * is applied now and logged (key=new, was old); one fixed at start
 * (listen, tls_ticket_lifetime_s, max_connections, preauth_max_connections)
 * keeps its value, with a warning that it needs a restart. Call
 * tk_hub_reload_plugins after it for the plugin settings. Returns how many
 * settings changed. The config the hub runs with: tk_hub_config. */
int tk_hub_reconfigure(tk_hub_t *h, const tk_config_t *next);
const tk_config_t *tk_hub_config(const tk_hub_t *h);
/* Sessions open now. */
size_t tk_hub_sessions(const tk_hub_t *h);

/* For tests and fuzzing: a session on a memory connection (tk_conn_memory,
 * see tk_conn.h), made as for an accepted TCP connection (it enters the
 * pre-authentication pool: its frames are limited to TK_MAX_PREAUTH_FRAME
 * until its Hello is verified, and past preauth_max_connections the
 * oldest unauthenticated session, possibly an earlier attached one, is
 * closed and freed to make room; max_connections counts it once its Hello
 * is verified, refusing it there with ERROR_LIMIT; TK_ECLOSED once the hub
 * is stopping; it has no deadline) whose TLS handshake finished with a
 * peer key hashing to peer_spki. Every frame the hub sends goes to sink; drive the
 * session with tk_conn_memory_deliver(*out, payload) and end it with tk_conn_close(*out,
 * 0, NULL) (which frees the session and *out). The same handlers serve it
 * as a TLS session; only the transport differs. tk_hub_new needs no loop
 * for this (loop may be NULL if tk_hub_listen is never called). */
int tk_hub_attach(tk_hub_t *h, tk_conn_sink_fn sink, void *sink_ctx,
                  const uint8_t peer_spki[TK_HASH_LEN], tk_conn_t **out, tk_err_t *err);

#endif
