/*
 * tk_hub_admin.h: the hub operator's actions on a hub's home (what
 * `tundukd device ...` and `tundukd quarantine ...` do), apart from the
 * daemon's command line: issuing an enrollment token, listing devices and
 * their access, revoking a device (and bumping the access list version a
 * running hub reloads on), and the hub's quarantine. Nothing is printed:
 * results come back as structs or JSON, failures as tk_err_t naming what
 * was wrong. A running hub sees these changes through the store (the
 * access list version, TK_META_ACL_VERSION).
 *
 * Threads: one home (tk_office_t) is used by one thread at a time.
 */
#ifndef TK_HUB_ADMIN_H
#define TK_HUB_ADMIN_H

#include <jansson.h>

#include "tk_office_engine.h"
#include "tk_token.h"

/* A new access list version (the time, to the nanosecond) in the store's
 * meta, inside the caller's transaction if one is open. */
int tk_hub_admin_acl_bump(tk_store_t *st, tk_err_t *err);

/* What an enrollment token is for. */
typedef struct tk_hub_token_req {
  const char *name;          /* the device's name, 1 to 63 bytes */
  const char *const *vaults; /* "vault:rw" / "vault:r" each */
  int nvaults;
  const char *ttl_hours;      /* "1".."8760"; NULL: default_ttl_hours */
  uint32_t default_ttl_hours; /* the config's token_ttl_hours */
  const char *address;        /* host:port the office dials (not port 0) */
} tk_hub_token_req_t;

/* Issues a one-time enrollment token for req: stores its hash with the
 * access it grants and writes its text (tk_token_format) to text; *ti gets
 * what was stored (name, access, created, expires). TK_EINVAL naming the
 * bad part of req (name, access spec, ttl, address), TK_ELIMIT for too many
 * vaults. */
int tk_hub_admin_token_issue(tk_office_t *home, const tk_hub_token_req_t *req,
                             char text[TK_TOKEN_MAX_TEXT], tk_token_info_t *ti,
                             tk_err_t *err);

/* Every device the hub knows (itself included) as JSON: [{id, name, added,
 * revoked, access: [{vault, write}]}]. */
int tk_hub_admin_devices(tk_office_t *home, json_t **out, tk_err_t *err);
/* Every enrollment token the hub issued, to cb (returns non-zero to stop). */
int tk_hub_admin_tokens(tk_office_t *home, int (*cb)(void *ctx, const tk_token_info_t *t),
                        void *ctx, tk_err_t *err);

/* Revokes the device whose printed id starts with prefix (dashes and case
 * ignored, at least 4 characters) and bumps the access list version, in one
 * transaction; id_out gets its printed id. TK_EINVAL (too short, or the hub
 * itself), TK_ENOTFOUND, TK_EAMBIG. */
int tk_hub_admin_revoke(tk_office_t *home, const char *prefix,
                        char id_out[TK_DEVICE_ID_STRLEN], tk_err_t *err);

/* Revisions the hub's moderation held, as JSON: [{revision, record, type,
 * vault, author, size, reason, received}]. */
int tk_hub_admin_quarantine_list(tk_office_t *home, json_t **out, tk_err_t *err);
/* Lets a held revision in (drop = 0) or drops it; rev is a hex prefix;
 * hex_out gets the full id. */
int tk_hub_admin_quarantine_act(tk_office_t *home, const char *rev, int drop,
                                char hex_out[2 * TK_REV_ID_LEN + 1], tk_err_t *err);

/* ---- store identity, backup, restore (hub_identity.c) ---------------------- */

#define TK_HUB_STORE_ID_LEN 16
/* The store's identity for the Hello (made at the first call), renewed
 * when the store's feed ends below the mark HOME/store.mark left for that
 * same identity (an older copy of the store put back by hand); the mark is
 * written anew. *feed_end gets the store's feed end. */
int tk_hub_store_identity(tk_office_t *home, uint8_t id[TK_HUB_STORE_ID_LEN],
                          uint64_t *feed_end, tk_err_t *err);
/* Writes HOME/store.mark (atomically): the identity and the feed end served. */
int tk_hub_store_mark(const char *home, const uint8_t id[TK_HUB_STORE_ID_LEN],
                      uint64_t end, tk_err_t *err);
/* Takes HOME/tundukd.lock (an exclusive flock, *fd held until closed):
 * TK_EBUSY when a `tundukd serve` holds it. */
int tk_hub_lock(const char *home, int *fd, tk_err_t *err);
/* ---- backup and restore (hub_backup.c) ------------------------------------ */

/* What a backup wrote. */
typedef struct tk_hub_backup_info {
  char dir[4096];
  char created[32]; /* RFC 3339, UTC: when the store's state was taken */
  char store_id[2 * TK_HUB_STORE_ID_LEN + 1];
  tk_store_counts_t counts;
  uint64_t bytes; /* every file of the backup */
  double seconds;
} tk_hub_backup_info_t;
/* Backs the hub at home up into the folder dir (new, or empty): a snapshot
 * of the store (sqlite's online backup: the hub may be serving, and its
 * syncs go on), the config and plugins, the key file only when with_key,
 * manifest.json and SHA256SUMS; written as dir.partial, renamed to dir when
 * whole (a dir.partial a cut backup left is removed first). Notes the time
 * in the store's meta (TK_META_LAST_BACKUP). TK_EEXIST if dir holds files. */
int tk_hub_backup_dir(tk_office_t *home, const char *dir, int with_key,
                      tk_hub_backup_info_t *bi, tk_err_t *err);

typedef struct tk_hub_restore_info {
  uint8_t store_id[TK_HUB_STORE_ID_LEN]; /* the restored store's new identity */
  char aside[4096]; /* where the store it replaced was kept ("" if none) */
  tk_store_counts_t counts;
  int key_restored, config_restored, plugins_restored;
} tk_hub_restore_info_t;
/* Puts the backup folder dir in place of the store of the stopped hub at
 * home (TK_EBUSY if it serves: its lock). Checks every file against
 * SHA256SUMS and the manifest and the store's counts against the manifest
 * first: a partial or changed backup is refused naming the file, and
 * nothing changes. The current store (and its WAL) is renamed to
 * store.db.before-restore-TIME, never deleted; the restored one gets a new
 * identity (every office that syncs next sees it and re-offers what the
 * hub lacks). The home's key file stays; a home without one takes the
 * backup's (--with-key), or the restore is refused. The config file and
 * plugins are copied only where the home has none. */
int tk_hub_restore_dir(const char *home, const char *dir, tk_hub_restore_info_t *ri,
                       tk_err_t *err);

#endif
