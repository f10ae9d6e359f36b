/*
 * hub_identity.c: the identity of a hub's store (tk_hub_admin.h, "store
 * identity"; PROTOCOL.md, "A restored hub"). 16 random bytes in the
 * store's meta (TK_META_STORE_ID), made at the first start and made anew
 * when the store is put back: by `tundukd restore`, or by hand (a copy of
 * an older store.db), which the mark file HOME/store.mark tells: it holds
 * the identity and the feed end last served, and a store whose feed ends
 * below the mark of its own identity is older than what offices have seen.
 * Offices get the identity in the hub's Hello and re-offer everything when
 * it changes. Backup (sqlite's online backup, while serving) and restore
 * (into a stopped hub's home). Any thread; one call at a time per home.
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

static int new_identity(tk_store_t *s, uint8_t id[TK_HUB_STORE_ID_LEN], tk_err_t *err)
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
  return new_identity(s, id, err);
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
    rc = new_identity(s, id, err);
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

int tk_hub_backup(tk_office_t *home, const char *file, tk_err_t *err)
{
  return tk_store_backup(tk_office_store(home), file, err);
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

/* Copies from to the new file to (mode 0600). */
static int copy_file(const char *from, const char *to, tk_err_t *err)
{
  int in = open(from, O_RDONLY | O_CLOEXEC);
  if (in < 0)
    return tk_err_set(err, TK_ENOTFOUND, "cannot open %s: %s", from, strerror(errno));
  int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (out < 0) {
    close(in);
    return tk_err_set(err, TK_EIO, "cannot create %s: %s", to, strerror(errno));
  }
  char buf[1 << 16];
  ssize_t n;
  int rc = 0;
  while ((n = read(in, buf, sizeof buf)) > 0)
    if (write(out, buf, (size_t)n) != n) {
      n = -1;
      break;
    }
  if (n < 0 || fsync(out) != 0)
    rc = tk_err_set(err, TK_EIO, "copying %s to %s: %s", from, to, strerror(errno));
  close(in);
  if (close(out) != 0 && !rc) rc = tk_err_set(err, TK_EIO, "writing %s", to);
  if (rc) unlink(to);
  return rc;
}

int tk_hub_restore(const char *home, const char *file, uint8_t id[TK_HUB_STORE_ID_LEN],
                   tk_err_t *err)
{
  char store[4096], tmp[4200], wal[4096], shm[4096];
  int lock = -1;
  tk_store_t *s = NULL;
  uint64_t end = 0;
  int rc = tk_hub_lock(home, &lock, err);
  if (!rc) rc = tk_home_store_path(store, sizeof store, home, err);
  if (!rc) rc = tk_home_store_wal_path(wal, sizeof wal, home, err);
  if (!rc) rc = tk_home_store_shm_path(shm, sizeof shm, home, err);
  if (rc) goto done;
  snprintf(tmp, sizeof tmp, "%s.restore", store);
  unlink(tmp);
  rc = copy_file(file, tmp, err);
  /* a tunduk store (opened, migrated if older) that gets a new identity */
  if (!rc && tk_store_open(&s, tmp, 0, err) != 0) {
    char why[sizeof err->msg];
    snprintf(why, sizeof why, "%s", err->msg);
    rc = tk_err_set(err, TK_EINVAL, "%s is not a tunduk hub store (%s)", file, why);
  }
  if (!rc) rc = new_identity(s, id, err);
  if (!rc) rc = tk_store_last_seq(s, &end, err);
  tk_store_close(s);
  if (rc) {
    unlink(tmp);
    goto done;
  }
  unlink(wal); /* the old store's: they must not be applied to the restored one */
  unlink(shm);
  if (rename(tmp, store) != 0) {
    rc = tk_err_set(err, TK_EIO, "cannot put %s in place: %s", store, strerror(errno));
    unlink(tmp);
    goto done;
  }
  rc = tk_hub_store_mark(home, id, end, err);
done:
  if (lock >= 0) close(lock);
  return rc;
}
