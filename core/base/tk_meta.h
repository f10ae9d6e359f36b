/*
 * tk_meta.h: the names of the settings a store keeps in its meta table
 * (tk_store_meta_get/_set), in one place. Settings about a peer are named
 * by peer role today (the one hub an office pins); a store that pins more
 * than one peer will key them by peer (TK_META_PEER_FMT) without touching
 * the callers' meaning.
 *
 * Threads: constants only.
 */
#ifndef TK_META_H
#define TK_META_H

/* An office's pin of its hub (written at enrollment, read by every sync). */
#define TK_META_HUB_ID "hub_id"           /* printed device id */
#define TK_META_HUB_ADDR "hub_addr"       /* host:port */
#define TK_META_HUB_SIGN_PK "hub_sign_pk" /* hex Ed25519 key */
#define TK_META_HUB_NAME "hub_name"       /* the hub's device name */
#define TK_META_HUB_ACCESS "hub_access"   /* "vault:rw,vault2:r", as the hub last said */
/* hex X25519 key of the hub, bound by its pinned signing key (checked in
 * its Hello): what a bundle for the hub is sealed to (office_bundle.c) */
#define TK_META_HUB_KX_PK "hub_kx_pk"
/* The hub's software and version ("tundukd/0.18.0"), as its last Hello said
 * (printable ASCII, at most TK_MAX_SOFTWARE bytes; for `tunduk status`). */
#define TK_META_HUB_SOFTWARE "hub_software"
/* Hex SHA-256 of the hub's TLS key, ':', hex id of the pinned hub, saved
 * once a Hello proved that key bound to that hub: only to that key, while
 * the pin is that hub, does a sync send frames before the hub's Hello
 * (sync_client.c, send_early). */
#define TK_META_HUB_TLS_SPKI "hub_tls_spki"
/* The sealed TLS session for resumption (tk_tls_session.h). */
#define TK_META_HUB_TLS_SESSION "hub_tls_session"

/* Nothing stranded (office_status.c): when the last sync with the pinned
 * hub ended well (unix seconds), and the store identity the hub last gave
 * in its Hello (hex; it changes when the hub's store is restored). */
#define TK_META_LAST_SYNC "last_sync"
#define TK_META_HUB_STORE_ID "hub_store_id"
/* "1" from a change of that identity until a sync ends well: offer and ask
 * for everything by id (sync_client.c) */
#define TK_META_HUB_REOFFER "hub_reoffer"
/* A hub's own store identity (hex, random, made at init; new on restore). */
#define TK_META_STORE_ID "store_id"
/* When the hub's last backup was taken (RFC 3339, UTC; tundukd backup,
 * hub_backup.c; `tundukd status` shows its age). */
#define TK_META_LAST_BACKUP "last_backup"

/* Per vault, with the vault's label after the colon. */
#define TK_META_GRANTED_BY_FMT "granted_by:%s" /* who granted this device its key */
#define TK_META_LOG_SENT_FMT "log_sent:%s"     /* log entries the hub acknowledged */

/* The vault an office takes its plugin set from (tunduk plugin follow). */
#define TK_META_PLUGIN_SET_VAULT "plugin_set_vault"

/* A hub's last backup: when `tundukd backup` last wrote one, an RFC 3339
 * time ("2026-12-03T15:04:05Z"); `tundukd status` shows its age. */
#define TK_META_LAST_BACKUP "last_backup"

/* A hub's access list version (tundukd's access file, reloaded). */
#define TK_META_ACL_VERSION "acl_version"

#endif
