/*
 * hub_identity.c: the identity of a hub's store (tk_hub_admin.h, "store
 * identity"; PROTOCOL.md, "A restored hub"). 16 random bytes in the
 * store's meta (TK_META_STORE_ID), made at the first start and made anew
 * when the store is put back: by `tundukd restore`, or by hand (a copy of
 * an older store.db), which the mark file HOME/store.mark tells: it holds
 * the identity and the feed end last served, and a store whose feed ends
 * below the mark of its own identity is older than what offices have seen.
 * Offices get the identity in the hub's Hello and re-offer everything when
 * it changes. Backup and restore, which give a restored store a new
 * identity, are hub_backup.c's. Any thread; one call at a time per home.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hub_internal.h"
#include "tk_hub_admin.h"
#include "tk_meta.h"

int tk__hub_store_identity_new(tk_store_t *s, uint8_t id[TK_HUB_STORE_ID_LEN],
                               tk_err_t *err)
{
  char hex[2 * TK_HUB_STORE_ID_LEN + 1];
  tk_random(id, TK_HUB_STORE_ID_LEN);
  tk_hex_encode(hex, id, TK_HUB_STORE_ID_LEN);
  return tk_store_meta_set(s, TK_META_STORE_ID, hex, err);
}

/* The identity in the store (made if there is none). */
static int get_identity(tk_store_t *s, uint8_t id[TK_HUB_STORE_ID_LEN], tk_err_t *err)
{
  char hex[2 * TK_HUB_STORE_ID_LEN + 8] = "";
  if (tk_store_meta_get(s, TK_META_STORE_ID, hex, sizeof hex, NULL) == 0 &&
      strlen(hex) == 2 * TK_HUB_STORE_ID_LEN &&
      tk_hex_decode(id, TK_HUB_STORE_ID_LEN, hex) == 0)
    return 0;
  return tk__hub_store_identity_new(s, id, err);
}

/* HOME/store.mark: "HEX FEEDEND\n"; 0 and the values, or -1 (none, or not
 * one this code wrote: ignored). */
static int read_mark(const char *home, uint8_t id[TK_HUB_STORE_ID_LEN], uint64_t *end)
{
  char path[4096], hex[2 * TK_HUB_STORE_ID_LEN + 1];
  unsigned long long e = 0;
  if (tk_home_path(path, sizeof path, home, TK_HOME_HUB_STORE_MARK, NULL) != 0) return -1;
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  int n = fscanf(f, "%32s %llu", hex, &e);
  fclose(f);
  if (n != 2 || strlen(hex) != 2 * TK_HUB_STORE_ID_LEN ||
      tk_hex_decode(id, TK_HUB_STORE_ID_LEN, hex) != 0)
    return -1;
  *end = e;
  return 0;
}

int tk_hub_store_mark(const char *home, const uint8_t id[TK_HUB_STORE_ID_LEN],
                      uint64_t end, tk_err_t *err)
{
  char path[4096], tmp[4200], hex[2 * TK_HUB_STORE_ID_LEN + 1];
  int rc = tk_home_path(path, sizeof path, home, TK_HOME_HUB_STORE_MARK, err);
  if (rc) return rc;
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  tk_hex_encode(hex, id, TK_HUB_STORE_ID_LEN);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return tk_err_set(err, TK_EIO, "cannot write %s: %s", tmp, strerror(errno));
  char line[80];
  int len = snprintf(line, sizeof line, "%s %llu\n", hex, (unsigned long long)end);
  int ok = write(fd, line, (size_t)len) == len && fsync(fd) == 0;
  ok = close(fd) == 0 && ok;
  if (!ok || rename(tmp, path) != 0) {
    unlink(tmp);
    return tk_err_set(err, TK_EIO, "cannot write %s: %s", path, strerror(errno));
  }
  return 0;
}

int tk_hub_store_identity(tk_office_t *home, uint8_t id[TK_HUB_STORE_ID_LEN],
                          uint64_t *feed_end, tk_err_t *err)
{
  tk_store_t *s = tk_office_store(home);
  uint8_t mark[TK_HUB_STORE_ID_LEN];
  uint64_t end = 0, marked = 0;
  int rc = get_identity(s, id, err);
  if (!rc) rc = tk_store_last_seq(s, &end, err);
  if (rc) return rc;
  if (read_mark(tk_office_home_dir(home), mark, &marked) == 0 &&
      tk_ct_equal(mark, id, TK_HUB_STORE_ID_LEN) && end < marked) {
    /* the same store, but its feed ends before what was served: an older
     * copy put back by hand; offices must not trust their checkpoints */
    rc = tk__hub_store_identity_new(s, id, err);
    if (rc) return rc;
    TK_LOG(TK_LOG_WARN, "hub",
           "the store's feed ends at %llu but %llu was served before: an older copy of "
           "the store; it gets a new identity, and offices re-offer what it lacks",
           (unsigned long long)end, (unsigned long long)marked);
  }
  *feed_end = end;
  tk_err_t e;
  /* not fatal (a full disk still serves reads): a later mark may succeed */
  if (tk_hub_store_mark(tk_office_home_dir(home), id, end, &e) != 0)
    TK_LOG(TK_LOG_WARN, "hub", "%s", tk_err_str(&e));
  return 0;
}

int tk_hub_lock(const char *home, int *fd_out, tk_err_t *err)
{
  char path[4096];
  *fd_out = -1;
  int rc = tk_home_path(path, sizeof path, home, TK_HOME_HUB_LOCK, err);
  if (rc) return rc;
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return tk_err_set(err, TK_EIO, "cannot open %s: %s", path, strerror(errno));
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    close(fd);
    return tk_err_set(err, TK_EBUSY,
                      "the hub in %s is running (stop 'tundukd serve' first)", home);
  }
  *fd_out = fd;
  return 0;
}
