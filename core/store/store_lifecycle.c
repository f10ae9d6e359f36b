/*
 * store_lifecycle.c: a hub admin's changes to devices and tokens after
 * enrollment (tk_store.h, "hub: lifecycle"): one vault's access set or
 * dropped, a device renamed, a pending token cancelled. These run once per
 * admin command in a short-lived process, so their statements are
 * prepared per call, not cached. One thread at a time per store.
 */
#include <string.h>

#include "store_internal.h"

/* Runs sql (no rows) with a device id (?1) and, when given, a text (?2)
 * and an int (?3) in the caller's transaction or its own; *changed gets
 * the rows it changed. */
static int run_dev(tk_store_t *s, const char *sql, const uint8_t *blob, size_t blob_len,
                   const char *text, int num, int *changed, const char *what,
                   tk_err_t *err)
{
  sqlite3_stmt *st = NULL;
  int rc = tk__write_begin(s, err);
  if (rc) return rc;
  int src = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
  if (src != SQLITE_OK) {
    rc = tk__store_fail(s, src, what, err);
    goto done;
  }
  TK__BIND(sqlite3_bind_blob(st, 1, blob, (int)blob_len, SQLITE_STATIC));
  if (sqlite3_bind_parameter_count(st) >= 2)
    TK__BIND(sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC));
  if (sqlite3_bind_parameter_count(st) >= 3) TK__BIND(sqlite3_bind_int(st, 3, num));
  src = sqlite3_step(st);
  if (src != SQLITE_DONE)
    rc = tk__store_fail(s, src, what, err);
  else if (changed)
    *changed = sqlite3_changes(s->db);
done:
  sqlite3_finalize(st);
  return tk__write_end(s, rc, err);
}

int tk_store_access_set(tk_store_t *s, const uint8_t device[TK_DEVICE_ID_LEN],
                        const char *vault, int write, tk_err_t *err)
{
  int rc = tk_name_check("vault", vault, TK_MAX_VAULT_LEN, 1, err);
  if (rc) return rc;
  return run_dev(s,
                 "INSERT INTO access(device, vault, write) VALUES(?1, ?2, ?3) "
                 "ON CONFLICT(device, vault) DO UPDATE SET write = excluded.write",
                 device, TK_DEVICE_ID_LEN, vault, write != 0, NULL, "storing access",
                 err);
}

int tk_store_access_del(tk_store_t *s, const uint8_t device[TK_DEVICE_ID_LEN],
                        const char *vault, tk_err_t *err)
{
  int changed = 0;
  int rc = run_dev(s, "DELETE FROM access WHERE device = ?1 AND vault = ?2", device,
                   TK_DEVICE_ID_LEN, vault, 0, &changed, "removing access", err);
  if (!rc && !changed)
    rc = tk_err_set(err, TK_ENOTFOUND, "the device has no access to vault '%s'", vault);
  return rc;
}

int tk_store_device_rename(tk_store_t *s, const uint8_t id[TK_DEVICE_ID_LEN],
                           const char *name, tk_err_t *err)
{
  int changed = 0;
  if (!name[0] || strlen(name) >= sizeof((tk_device_info_t *)0)->name)
    return tk_err_set(err, TK_EINVAL, "device name must be 1 to %zu bytes",
                      sizeof((tk_device_info_t *)0)->name - 1);
  int rc = run_dev(s, "UPDATE devices SET name = ?2 WHERE id = ?1", id, TK_DEVICE_ID_LEN,
                   name, 0, &changed, "renaming a device", err);
  if (!rc && !changed) rc = tk_err_set(err, TK_ENOTFOUND, "no such device");
  return rc;
}

int tk_store_token_cancel(tk_store_t *s, const uint8_t token_id[16], tk_err_t *err)
{
  int changed = 0;
  int rc = run_dev(s, "DELETE FROM tokens WHERE id = ?1 AND used = 0", token_id, 16, NULL,
                   0, &changed, "cancelling a token", err);
  if (!rc && !changed)
    rc = tk_err_set(err, TK_ENOTFOUND, "no pending token with that id");
  return rc;
}
