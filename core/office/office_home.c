/*
 * office_home.c: the layout of a home folder (tk_office_home.h): one
 * function per path, and the walk that lists every file. Any thread.
 */
#include "tk_office_home.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_DEPTH 16
#define MAX_ENTRIES 100000u

static const char *const names[TK_HOME_NKINDS] = {
    [TK_HOME_KEY] = TK_HOME_KEYFILE,
    [TK_HOME_KEY_TMP] = TK_HOME_KEYFILE ".tmp",
    [TK_HOME_STORE] = TK_HOME_STOREFILE,
    [TK_HOME_STORE_WAL] = TK_HOME_STOREFILE "-wal",
    [TK_HOME_STORE_SHM] = TK_HOME_STOREFILE "-shm",
    [TK_HOME_STORE_JOURNAL] = TK_HOME_STOREFILE "-journal",
    [TK_HOME_PLUGINS] = TK_HOME_PLUGIN_SUBDIR,
    [TK_HOME_HUB_CONFIG_FILE] = TK_HOME_HUB_CONFIG,
    [TK_HOME_HUB_STORE_MARK] = TK_HOME_HUB_STORE_MARK_FILE,
    [TK_HOME_HUB_LOCK] = TK_HOME_HUB_LOCK_FILE,
    [TK_HOME_PLUGIN_SET] = TK_HOME_PLUGIN_SET_SUBDIR,
    [TK_HOME_PLUGIN_SET_NEW] = TK_HOME_PLUGIN_SET_SUBDIR ".new",
    [TK_HOME_PLUGIN_SET_LOCK] = TK_HOME_PLUGIN_SET_SUBDIR ".lock",
    [TK_HOME_UPLOADS] = TK_HOME_UPLOADS_SUBDIR,
};

int tk_home_path(char *out, size_t cap, const char *home, tk_home_kind_t kind,
                 tk_err_t *err)
{
  if (kind <= TK_HOME_OTHER || kind >= TK_HOME_NKINDS || !names[kind])
    return tk_err_set(err, TK_EINVAL, "no fixed path for this kind of home file");
  int n = snprintf(out, cap, "%s/%s", home, names[kind]);
  if (n < 0 || (size_t)n >= cap)
    return tk_err_set(err, TK_ELIMIT, "home folder path is too long: %s", home);
  return 0;
}

int tk_home_key_path(char *out, size_t cap, const char *home, tk_err_t *err)
{
  return tk_home_path(out, cap, home, TK_HOME_KEY, err);
}

int tk_home_store_path(char *out, size_t cap, const char *home, tk_err_t *err)
{
  return tk_home_path(out, cap, home, TK_HOME_STORE, err);
}

int tk_home_store_wal_path(char *out, size_t cap, const char *home, tk_err_t *err)
{
  return tk_home_path(out, cap, home, TK_HOME_STORE_WAL, err);
}

int tk_home_store_shm_path(char *out, size_t cap, const char *home, tk_err_t *err)
{
  return tk_home_path(out, cap, home, TK_HOME_STORE_SHM, err);
}

int tk_home_plugins_path(char *out, size_t cap, const char *home, tk_err_t *err)
{
  return tk_home_path(out, cap, home, TK_HOME_PLUGINS, err);
}

int tk_home_hub_config_path(char *out, size_t cap, const char *home, tk_err_t *err)
{
  return tk_home_path(out, cap, home, TK_HOME_HUB_CONFIG_FILE, err);
}

void tk_home_store_unlink(const char *home)
{
  static const tk_home_kind_t store[] = {TK_HOME_STORE, TK_HOME_STORE_WAL,
                                         TK_HOME_STORE_SHM, TK_HOME_STORE_JOURNAL};
  char p[PATH_MAX];
  for (size_t i = 0; i < sizeof store / sizeof store[0]; i++)
    if (tk_home_path(p, sizeof p, home, store[i], NULL) == 0) unlink(p);
}

/* The kind of name found at depth (0: directly in home; 1: in plugins/). */
static tk_home_kind_t kind_of(const char *name, int depth, tk_home_kind_t parent)
{
  if (depth == 1 && (parent == TK_HOME_PLUGINS || parent == TK_HOME_PLUGIN_SET ||
                     parent == TK_HOME_PLUGIN_SET_NEW))
    return TK_HOME_PLUGIN;
  if (depth != 0) return TK_HOME_OTHER;
  for (int k = TK_HOME_OTHER + 1; k < TK_HOME_NKINDS; k++)
    if (names[k] && strcmp(names[k], name) == 0) return (tk_home_kind_t)k;
  return TK_HOME_OTHER;
}

typedef struct walk {
  tk_home_file_cb cb;
  void *ctx;
  tk_err_t *err;
  unsigned entries;
} walk_t;

static int walk_dir(walk_t *w, const char *dir, int depth, tk_home_kind_t parent)
{
  DIR *d = opendir(dir);
  struct dirent *de;
  int rc = 0;
  if (!d) return tk_err_set(w->err, TK_EIO, "cannot read %s: %s", dir, strerror(errno));
  while (!rc && (de = readdir(d))) {
    char p[PATH_MAX];
    struct stat st;
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
    if (++w->entries > MAX_ENTRIES) {
      rc = tk_err_set(w->err, TK_ELIMIT, "more than %u files under %s", MAX_ENTRIES, dir);
      break;
    }
    int n = snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
    if (n < 0 || (size_t)n >= sizeof p) {
      rc = tk_err_set(w->err, TK_ELIMIT, "path too long under %s", dir);
      break;
    }
    if (lstat(p, &st) != 0) {
      if (errno == ENOENT) continue; /* gone meanwhile */
      rc = tk_err_set(w->err, TK_EIO, "cannot stat %s: %s", p, strerror(errno));
      break;
    }
    tk_home_kind_t kind = kind_of(de->d_name, depth, parent);
    int is_dir = S_ISDIR(st.st_mode);
    if (is_dir) {
      if (depth + 1 >= MAX_DEPTH)
        rc = tk_err_set(w->err, TK_ELIMIT, "folders nested more than %d deep under %s",
                        MAX_DEPTH, dir);
      else
        rc = walk_dir(w, p, depth + 1, kind);
    }
    if (!rc) rc = w->cb(w->ctx, p, kind, is_dir);
  }
  closedir(d);
  return rc;
}

int tk_home_files(const char *home, tk_home_file_cb cb, void *ctx, tk_err_t *err)
{
  walk_t w = {cb, ctx, err, 0};
  return walk_dir(&w, home, 0, TK_HOME_OTHER);
}
