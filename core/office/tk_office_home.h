/*
 * tk_office_home.h: the layout of a home folder, one owner for every path
 * in it, for the office (tunduk) and the hub daemon (tundukd) alike:
 *
 *   HOME/                  mode 0700
 *     device.key           the identity, private keys sealed under the passphrase
 *     device.key.tmp       while the key file is being written (then renamed)
 *     store.db             the sqlite store
 *     store.db-wal         its write-ahead log, while open (and after a crash)
 *     store.db-shm         its shared-memory index, likewise
 *     store.db-journal     sqlite's rollback journal, if one is ever left
 *     plugins/             the admin's own plugins (*.lua), if the folder exists
 *     plugin-set/          the organisation's plugin set as last installed from the
 *                          followed vault (tunduk plugin follow): *.lua and VERSION
 *     plugin-set.new/      while a set is being installed (then swapped in)
 *     plugin-set.lock      taken while a set is installed
 *     uploads/             a streamed upload's encrypted chunks while it arrives
 *                          (ciphertext only, unlinked at once: never outlives the
 *                          process; a leftover of a crash is removed on open)
 *     tundukd.conf         the hub's settings (tundukd only), if present
 *     store.mark           the hub's store identity and the feed end it last
 *                          served (tundukd only; hub_identity.c)
 *     tundukd.lock         locked while tundukd serves (tundukd only)
 *     store.db.before-restore-TIME   the store a `tundukd restore` replaced, and its
 *                          -wal (tundukd only; hub_backup.c), kept until removed
 *     store.db.before-schema-N   the store as it was before a migration to schema
 *                          N (store_backup.c), kept until removed
 *
 * tk_home_files walks everything under a home folder (the files above and
 * any other file found there), so a panic wipe finds every file even if a
 * later version adds one before this list learns about it.
 *
 * Threads: any; no shared state.
 */
#ifndef TK_OFFICE_HOME_H
#define TK_OFFICE_HOME_H

#include "tk_common.h"

#define TK_HOME_KEYFILE "device.key"
#define TK_HOME_STOREFILE "store.db"
#define TK_HOME_PLUGIN_SUBDIR "plugins"
#define TK_HOME_HUB_CONFIG "tundukd.conf"
#define TK_HOME_HUB_STORE_MARK_FILE "store.mark"
#define TK_HOME_HUB_LOCK_FILE "tundukd.lock"
#define TK_HOME_PLUGIN_SET_SUBDIR "plugin-set"
#define TK_HOME_UPLOADS_SUBDIR "uploads"

/* What a path in a home folder is. */
typedef enum tk_home_kind {
  TK_HOME_OTHER = 0, /* not part of the layout (still listed) */
  TK_HOME_KEY,
  TK_HOME_KEY_TMP,
  TK_HOME_STORE,
  TK_HOME_STORE_WAL,
  TK_HOME_STORE_SHM,
  TK_HOME_STORE_JOURNAL,
  TK_HOME_PLUGINS, /* the folder */
  TK_HOME_PLUGIN,  /* a file in it */
  TK_HOME_HUB_CONFIG_FILE,
  TK_HOME_HUB_STORE_MARK, /* store.mark: the hub's store identity and feed end */
  TK_HOME_HUB_LOCK,       /* tundukd.lock: held while tundukd serves */
  TK_HOME_PLUGIN_SET,     /* the installed plugin set (its files: TK_HOME_PLUGIN) */
  TK_HOME_PLUGIN_SET_NEW, /* the folder a set is written into before it is swapped in */
  TK_HOME_PLUGIN_SET_LOCK,
  TK_HOME_UPLOADS, /* the folder of streamed uploads' ciphertext (office_transfer.c) */
  TK_HOME_NKINDS
} tk_home_kind_t;

/* One function per path: writes HOME/<name> into out (cap bytes). TK_ELIMIT
 * "home folder path is too long: HOME" when it does not fit. */
int tk_home_key_path(char *out, size_t cap, const char *home, tk_err_t *err);
int tk_home_store_path(char *out, size_t cap, const char *home, tk_err_t *err);
int tk_home_store_wal_path(char *out, size_t cap, const char *home, tk_err_t *err);
int tk_home_store_shm_path(char *out, size_t cap, const char *home, tk_err_t *err);
int tk_home_plugins_path(char *out, size_t cap, const char *home, tk_err_t *err);
int tk_home_hub_config_path(char *out, size_t cap, const char *home, tk_err_t *err);
/* The path of kind (not TK_HOME_OTHER, TK_HOME_PLUGIN). */
int tk_home_path(char *out, size_t cap, const char *home, tk_home_kind_t kind,
                 tk_err_t *err);

/* Removes the store's files (store.db, -wal, -shm, -journal), those that
 * exist: an init that failed half way. */
void tk_home_store_unlink(const char *home);

/* Every file and folder under home (home itself not included), children
 * before their folder (the order a wipe removes them in), each with its
 * kind and whether it is a folder. Symbolic links are listed, not
 * followed. At most 16 levels deep and 100,000 entries (TK_ELIMIT past
 * them, after listing what came before). cb returns non-zero to stop (that
 * value is returned). TK_EIO if home or a folder in it cannot be read. */
typedef int (*tk_home_file_cb)(void *ctx, const char *path, tk_home_kind_t kind,
                               int is_dir);
int tk_home_files(const char *home, tk_home_file_cb cb, void *ctx, tk_err_t *err);

#endif
