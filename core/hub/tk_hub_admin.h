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
 * syncs go on), the config (the file config names, else HOME/tundukd.conf
 * when there is one) and plugins, the key file only when with_key,
 * manifest.json and SHA256SUMS; written as dir.partial, renamed to dir when
 * whole (a dir.partial a cut backup left is removed first). Notes the time
 * in the store's meta (TK_META_LAST_BACKUP). TK_EEXIST if dir holds files. */
int tk_hub_backup_dir(tk_office_t *home, const char *dir, const char *config,
                      int with_key, tk_hub_backup_info_t *bi, tk_err_t *err);

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

/* ---- lifecycle (hub_lifecycle.c) -------------------------------------------- */

/* tk_hub_lock for `tundukd serve`, which writes its pid into the lock file:
 * TK_EBUSY naming that pid when another process holds it. A lock of a
 * process that died does not block (flock ends with its holder). */
int tk_hub_serve_lock(const char *home, int *fd, tk_err_t *err);
/* Empties the lock file (no stale pid) and releases it; fd < 0: nothing. */
void tk_hub_serve_unlock(int fd);

/* Room for an access list as text ("vault:rw,vault:r,..."), and the most
 * vaults one device may be given. */
#define TK_HUB_ACCESS_MAX 512
#define TK_HUB_MAX_VAULTS 64

/* The device `which` names: a device name (not revoked; names are unique
 * among those, case ignored), else at least 4 characters of its printed id
 * (dashes and case ignored). TK_ENOTFOUND, TK_EAMBIG. */
int tk_hub_admin_device_find(tk_office_t *home, const char *which, tk_device_info_t *out,
                             tk_err_t *err);
/* 0 if no device (not revoked) but `except` (may be NULL) and no pending,
 * unexpired token has the name (case ignored); else TK_EEXIST naming the
 * device or token that has it. */
int tk_hub_admin_name_free(tk_office_t *home, const char *name, const uint8_t *except,
                           tk_err_t *err);
/* An access spec ("a,b:rw") that names every vault once, each a valid
 * name; TK_EINVAL naming the vault named twice or the bad entry. */
int tk_hub_access_spec_unique(const char *spec, tk_err_t *err);

/* What `device access` changes: the device (tk_hub_admin_device_find), the
 * vaults to set ("V" read, "V:rw" read and write; comma lists too) and the
 * vaults to remove (names only). */
typedef struct tk_hub_access_req {
  const char *which;
  const char *const *vaults;
  int nvaults;
  const char *const *removes;
  int nremoves;
} tk_hub_access_req_t;
/* Changes an enrolled device's access in one transaction with a new access
 * list version: the running hub reloads its open sessions' access within a
 * second, and the office gets the new list in the hub's next Hello. Vaults
 * not named keep their access. *dev gets the device, access its new list.
 * TK_EINVAL (nothing to change, a vault named twice, a mode on --remove,
 * the hub itself, a revoked device), TK_ENOTFOUND (no such device, or a
 * vault to remove it has no access to: nothing is changed then). */
int tk_hub_admin_access(tk_office_t *home, const tk_hub_access_req_t *req,
                        tk_device_info_t *dev, char access[TK_HUB_ACCESS_MAX],
                        tk_err_t *err);
/* A device's access as text ("a:r,b:rw"). */
int tk_hub_admin_access_list(tk_office_t *home, const uint8_t id[TK_DEVICE_ID_LEN],
                             char out[TK_HUB_ACCESS_MAX], tk_err_t *err);
/* Renames the device `which` names to name (1 to 63 bytes, unique). */
int tk_hub_admin_rename(tk_office_t *home, const char *which, const char *name,
                        tk_device_info_t *dev, tk_err_t *err);

/* The pending (unused) enrollment tokens as JSON, never their secret (the
 * hub keeps only its hash): [{id (hex), name, access: [{vault, write}],
 * created, expires, expired}]. */
int tk_hub_admin_pending_tokens(tk_office_t *home, json_t **out, tk_err_t *err);
/* Cancels the pending token whose hex id starts with prefix (4 to 32 hex
 * digits): enrolling with it then fails as with an unknown token. *t gets
 * what it was. TK_EINVAL (a bad prefix, or a used token), TK_ENOTFOUND,
 * TK_EAMBIG. */
int tk_hub_admin_token_cancel(tk_office_t *home, const char *prefix, tk_token_info_t *t,
                              tk_err_t *err);

/* 1 with a warning in why when a token carrying token_addr is of no use to
 * an office elsewhere: an unspecified address (0.0.0.0, ::), or a loopback
 * one while the hub listens on a non-loopback address; else 0. */
int tk_hub_token_addr_check(const char *token_addr, const char *listen, char *why,
                            size_t n);

#endif
