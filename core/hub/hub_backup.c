/*
 * hub_backup.c: `tundukd backup DIR` and `tundukd restore DIR`
 * (tk_hub_admin.h). A backup is a folder:
 *
 *   DIR/store.db        the store, one consistent state of it (revisions,
 *                       attachment chunks, devices, access lists, tokens,
 *                       grants, quarantine), through sqlite's online backup
 *                       while the hub serves (tk_store_backup)
 *   DIR/tundukd.conf    the config file, if the home has one
 *   DIR/plugins/NAME    the admin's own plugins, if the home has the folder
 *   DIR/device.key      only with --with-key: the hub's identity (sealed
 *                       under the passphrase); it cannot be made again, and
 *                       belongs in an offline copy of its own
 *   DIR/manifest.json   what the backup is: its time, the tunduk version,
 *                       the store identity and schema, counts, and every
 *                       file's size and SHA-256
 *   DIR/SHA256SUMS      every file's SHA-256, manifest.json included, as
 *                       `sha256sum -c` reads it
 *
 * It is written into DIR.partial and renamed to DIR once every file is
 * synced, so a backup that was cut is never taken for a whole one. Restore
 * checks every hash before it touches the home, and the counts of the
 * store against the manifest; the current store is renamed aside, never
 * deleted; the restored store gets a new store identity (hub_identity.c),
 * so every office re-offers what the hub lacks at its next sync.
 *
 * Threads: any; one call at a time per process (the file lists are static:
 * they are too large for a thread's stack).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hub_internal.h"
#include "tk_hub_admin.h"
#include "tk_meta.h"

#define MANIFEST "manifest.json"
#define SUMS "SHA256SUMS"
#define BACKUP_FORMAT "tunduk-hub-backup"
#define BACKUP_FORMAT_VERSION 1
/* Limits on what a backup folder given to restore may hold: it comes from
 * outside (another disk, another machine). */
#define MAX_FILES 256            /* files listed */
#define MAX_SUMS_BYTES (1 << 16) /* SHA256SUMS */
#define MAX_MANIFEST_BYTES (1 << 20)
#define MAX_PLUGINS 200 /* plugin files copied from a home */

typedef struct file_list {
  char name[MAX_FILES][300];
  char hex[MAX_FILES][2 * TK_HASH_LEN + 1];
  uint64_t size[MAX_FILES];
  int n;
} file_list_t;

static int pjoin(char *out, size_t cap, const char *a, const char *b, tk_err_t *err)
{
  int n = snprintf(out, cap, "%s/%s", a, b);
  if (n < 0 || (size_t)n >= cap)
    return tk_err_set(err, TK_ELIMIT, "path is too long: %s/%s", a, b);
  return 0;
}

static void rfc3339(char out[32], time_t t)
{
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* SHA-256 (hex) and size of the file at path. */
static int hash_file(const char *path, char hex[2 * TK_HASH_LEN + 1], uint64_t *size,
                     tk_err_t *err)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return tk_err_set(err, TK_ENOTFOUND, "cannot open %s: %s", path, strerror(errno));
  tk_sha256_ctx_t c;
  tk_sha256_init(&c);
  static __thread uint8_t buf[1 << 16];
  ssize_t n;
  uint64_t total = 0;
  while ((n = read(fd, buf, sizeof buf)) > 0) {
    tk_sha256_update(&c, buf, (size_t)n);
    total += (uint64_t)n;
  }
  int e = errno;
  close(fd);
  if (n < 0) return tk_err_set(err, TK_EIO, "cannot read %s: %s", path, strerror(e));
  uint8_t h[TK_HASH_LEN];
  tk_sha256_final(&c, h);
  tk_hex_encode(hex, h, TK_HASH_LEN);
  *size = total;
  return 0;
}

static int fsync_path(const char *path, tk_err_t *err)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  int ok = fd >= 0 && fsync(fd) == 0;
  int e = errno;
  if (fd >= 0) close(fd);
  return ok ? 0 : tk_err_set(err, TK_EIO, "cannot sync %s: %s", path, strerror(e));
}

/* Copies from to the new file to (mode 0600), synced. */
static int copy_file(const char *from, const char *to, tk_err_t *err)
{
  int in = open(from, O_RDONLY | O_CLOEXEC);
  if (in < 0)
    return tk_err_set(err, TK_ENOTFOUND, "cannot open %s: %s", from, strerror(errno));
  int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (out < 0) {
    int e = errno;
    close(in);
    return tk_err_set(err, e == EEXIST ? TK_EEXIST : TK_EIO, "cannot create %s: %s", to,
                      strerror(e));
  }
  static __thread char buf[1 << 16];
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

/* Writes text to the new file path, synced. */
static int write_new(const char *path, const char *text, tk_err_t *err)
{
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return tk_err_set(err, TK_EIO, "cannot create %s: %s", path, strerror(errno));
  size_t n = strlen(text);
  int ok = write(fd, text, n) == (ssize_t)n && fsync(fd) == 0;
  int e = errno;
  ok = close(fd) == 0 && ok;
  return ok ? 0 : tk_err_set(err, TK_EIO, "cannot write %s: %s", path, strerror(e));
}

/* Whether name may be a file of a backup (restore reads only these). */
static int name_ok(const char *name)
{
  if (!strcmp(name, TK_HOME_STOREFILE) || !strcmp(name, TK_HOME_KEYFILE) ||
      !strcmp(name, TK_HOME_HUB_CONFIG) || !strcmp(name, MANIFEST))
    return 1;
  size_t p = strlen(TK_HOME_PLUGIN_SUBDIR);
  const char *f = name + p + 1;
  return !strncmp(name, TK_HOME_PLUGIN_SUBDIR "/", p + 1) && *f && *f != '.' &&
         !strchr(f, '/') && strlen(f) < 200;
}

/* Removes a folder DIR.partial left by a cut backup: only files a backup
 * writes; other files keep it (and the error says so). */
static int remove_partial(const char *dir, tk_err_t *err)
{
  static const char *const names[] = {TK_HOME_STOREFILE,
                                      TK_HOME_STOREFILE "-wal",
                                      TK_HOME_STOREFILE "-shm",
                                      TK_HOME_STOREFILE "-journal",
                                      TK_HOME_KEYFILE,
                                      TK_HOME_HUB_CONFIG,
                                      MANIFEST,
                                      SUMS};
  char p[PATH_MAX];
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (pjoin(p, sizeof p, dir, names[i], NULL) == 0) unlink(p);
  if (pjoin(p, sizeof p, dir, TK_HOME_PLUGIN_SUBDIR, NULL) == 0) {
    DIR *d = opendir(p);
    struct dirent *e;
    char f[PATH_MAX];
    while (d && (e = readdir(d)) != NULL)
      if (e->d_name[0] != '.' && pjoin(f, sizeof f, p, e->d_name, NULL) == 0) unlink(f);
    if (d) closedir(d);
    rmdir(p);
  }
  if (rmdir(dir) != 0 && errno != ENOENT)
    return tk_err_set(err, TK_EEXIST,
                      "%s is left from a backup that was cut and holds other files "
                      "(%s): remove it first",
                      dir, strerror(errno));
  return 0;
}

/* 0 if path does not exist or is an empty folder; TK_EEXIST naming it
 * otherwise. *exists: it is there (empty). */
static int check_target(const char *path, int *exists, tk_err_t *err)
{
  struct stat sb;
  *exists = 0;
  if (lstat(path, &sb) != 0) return 0;
  if (!S_ISDIR(sb.st_mode))
    return tk_err_set(err, TK_EEXIST,
                      "%s exists and is not a folder; a backup goes to a "
                      "new or empty folder",
                      path);
  DIR *d = opendir(path);
  if (!d) return tk_err_set(err, TK_EIO, "cannot read %s: %s", path, strerror(errno));
  struct dirent *e;
  int empty = 1;
  while ((e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) empty = 0;
  closedir(d);
  if (!empty)
    return tk_err_set(err, TK_EEXIST,
                      "%s is not empty; a backup goes to a new or empty folder", path);
  *exists = 1;
  return 0;
}

/* Adds DIR/name to the list with its hash. */
static int list_add(file_list_t *fl, const char *dir, const char *name, tk_err_t *err)
{
  char p[PATH_MAX];
  if (fl->n == MAX_FILES)
    return tk_err_set(err, TK_ELIMIT, "more than %d files", MAX_FILES);
  int rc = pjoin(p, sizeof p, dir, name, err);
  if (!rc) rc = hash_file(p, fl->hex[fl->n], &fl->size[fl->n], err);
  if (rc) return rc;
  snprintf(fl->name[fl->n], sizeof fl->name[0], "%s", name);
  fl->n++;
  return 0;
}

/* Copies HOME/plugins' regular files into DIR/plugins (if the home has
 * the folder), listing each. */
static int copy_plugins(const char *home, const char *dir, file_list_t *fl, tk_err_t *err)
{
  char from[PATH_MAX], to[PATH_MAX], a[PATH_MAX], b[PATH_MAX], name[300];
  int rc = tk_home_plugins_path(from, sizeof from, home, err);
  if (rc) return rc;
  DIR *d = opendir(from);
  if (!d) return 0;
  rc = pjoin(to, sizeof to, dir, TK_HOME_PLUGIN_SUBDIR, err);
  if (!rc && mkdir(to, 0700) != 0)
    rc = tk_err_set(err, TK_EIO, "cannot make %s: %s", to, strerror(errno));
  struct dirent *e;
  int n = 0;
  while (!rc && (e = readdir(d)) != NULL) {
    struct stat sb;
    snprintf(name, sizeof name, "%s/%s", TK_HOME_PLUGIN_SUBDIR, e->d_name);
    if (e->d_name[0] == '.' || !name_ok(name)) continue;
    rc = pjoin(a, sizeof a, from, e->d_name, err);
    if (rc || lstat(a, &sb) != 0 || !S_ISREG(sb.st_mode)) continue;
    if (++n > MAX_PLUGINS) {
      rc = tk_err_set(err, TK_ELIMIT, "%s holds more than %d files", from, MAX_PLUGINS);
      break;
    }
    rc = pjoin(b, sizeof b, to, e->d_name, err);
    if (!rc) rc = copy_file(a, b, err);
    if (!rc) rc = list_add(fl, dir, name, err);
  }
  closedir(d);
  if (!rc) rc = fsync_path(to, err);
  return rc;
}

int tk_hub_backup_dir(tk_office_t *home, const char *dir, const char *config,
                      int with_key, tk_hub_backup_info_t *bi, tk_err_t *err)
{
  const char *hdir = tk_office_home_dir(home);
  char partial[PATH_MAX], p[PATH_MAX], q[PATH_MAX], parent[PATH_MAX];
  static file_list_t fl;
  json_t *m = NULL;
  char *text = NULL;
  int exists = 0, rc;
  memset(bi, 0, sizeof *bi);
  fl.n = 0;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  size_t dl = strlen(dir);
  while (dl > 1 && dir[dl - 1] == '/')
    dl--; /* "DIR/" names DIR */
  int n = snprintf(partial, sizeof partial, "%.*s.partial", (int)dl, dir);
  if (n < 0 || (size_t)n >= sizeof partial)
    return tk_err_set(err, TK_ELIMIT, "backup folder path is too long: %s", dir);
  snprintf(bi->dir, sizeof bi->dir, "%.*s", (int)dl, dir);
  rc = check_target(bi->dir, &exists, err);
  if (!rc) rc = remove_partial(partial, err);
  if (rc) return rc;
  /* the config to copy: checked before anything is written */
  char conf[PATH_MAX];
  if (config) {
    if (snprintf(conf, sizeof conf, "%s", config) >= (int)sizeof conf)
      return tk_err_set(err, TK_EINVAL, "the config path is too long");
    if (access(conf, R_OK) != 0)
      return tk_err_set(err, TK_EIO, "cannot read the config %s: %s", conf,
                        strerror(errno));
  } else if ((rc = tk_home_hub_config_path(conf, sizeof conf, hdir, err)) != 0) {
    return rc;
  }
  if (mkdir(partial, 0700) != 0)
    return tk_err_set(err, TK_EIO, "cannot make %s: %s", partial, strerror(errno));

  /* the store: the state of one commit, taken while the hub serves */
  time_t now = time(NULL);
  rfc3339(bi->created, now);
  rc = pjoin(p, sizeof p, partial, TK_HOME_STOREFILE, err);
  if (!rc) rc = tk_store_backup(tk_office_store(home), p, &bi->counts, err);
  /* the identity is made once and changes only by a restore (refused while
   * the hub serves): the copy's is the same */
  if (!rc && tk_store_meta_get(tk_office_store(home), TK_META_STORE_ID, bi->store_id,
                               sizeof bi->store_id, NULL))
    bi->store_id[0] = '\0'; /* a store never served yet has none */
  if (!rc) rc = list_add(&fl, partial, TK_HOME_STOREFILE, err);

  /* the admin's files beside it */
  if (!rc && access(conf, F_OK) == 0) {
    rc = pjoin(p, sizeof p, partial, TK_HOME_HUB_CONFIG, err);
    if (!rc) rc = copy_file(conf, p, err);
    if (!rc) rc = list_add(&fl, partial, TK_HOME_HUB_CONFIG, err);
  }
  if (!rc) rc = copy_plugins(hdir, partial, &fl, err);
  if (!rc && with_key) {
    rc = tk_home_key_path(q, sizeof q, hdir, err);
    if (!rc) rc = pjoin(p, sizeof p, partial, TK_HOME_KEYFILE, err);
    if (!rc) rc = copy_file(q, p, err);
    if (!rc) rc = list_add(&fl, partial, TK_HOME_KEYFILE, err);
  }
  if (rc) goto done;

  /* manifest.json, then SHA256SUMS over every file and the manifest */
  json_t *files = json_array();
  for (int i = 0; i < fl.n; i++)
    json_array_append_new(files, json_pack("{s:s, s:I, s:s}", "name", fl.name[i], "size",
                                           (json_int_t)fl.size[i], "sha256", fl.hex[i]));
  const tk_store_counts_t *c = &bi->counts;
  m = json_pack("{s:s, s:i, s:s, s:s, s:s, s:i, s:b, s:{s:I, s:I, s:I, s:I, s:I, s:I, "
                "s:I}, s:o}",
                "format", BACKUP_FORMAT, "format_version", BACKUP_FORMAT_VERSION,
                "created", bi->created, "tunduk_version", TK_VERSION, "store_id",
                bi->store_id, "schema_version", c->schema, "with_key", with_key != 0,
                "counts", "revisions", (json_int_t)c->revisions, "records",
                (json_int_t)c->records, "chunks", (json_int_t)c->chunks, "chunk_bytes",
                (json_int_t)c->chunk_bytes, "devices", (json_int_t)c->devices,
                "quarantined", (json_int_t)c->quarantined, "feed_end",
                (json_int_t)c->feed_end, "files", files);
  text = m ? json_dumps(m, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
  if (!text) {
    rc = tk_err_set(err, TK_ENOMEM, "out of memory writing the backup's manifest");
    goto done;
  }
  rc = pjoin(p, sizeof p, partial, MANIFEST, err);
  if (!rc) rc = write_new(p, text, err);
  if (!rc) rc = list_add(&fl, partial, MANIFEST, err);
  if (rc) goto done;
  size_t cap = (size_t)fl.n * 400 + 1, len = 0;
  char *sums = malloc(cap);
  if (!sums) {
    rc = tk_err_set(err, TK_ENOMEM, "out of memory writing %s", SUMS);
    goto done;
  }
  for (int i = 0; i < fl.n; i++) {
    len += (size_t)snprintf(sums + len, cap - len, "%s  %s\n", fl.hex[i], fl.name[i]);
    bi->bytes += fl.size[i];
  }
  rc = pjoin(p, sizeof p, partial, SUMS, err);
  if (!rc) rc = write_new(p, sums, err);
  free(sums);
  if (!rc) rc = fsync_path(partial, err);
  if (rc) goto done;

  /* whole: it takes its name */
  if (exists && rmdir(bi->dir) != 0) {
    rc = tk_err_set(err, TK_EIO, "cannot replace the empty folder %s: %s", bi->dir,
                    strerror(errno));
    goto done;
  }
  if (rename(partial, bi->dir) != 0) {
    rc = tk_err_set(err, TK_EIO, "cannot rename %s to %s: %s", partial, bi->dir,
                    strerror(errno));
    goto done;
  }
  snprintf(parent, sizeof parent, "%s", bi->dir);
  char *slash = strrchr(parent, '/');
  if (slash == parent)
    parent[1] = '\0';
  else if (slash)
    *slash = '\0';
  else
    snprintf(parent, sizeof parent, ".");
  fsync_path(parent, NULL); /* best effort: the backup is whole either way */

  /* `tundukd status` reads the time of the last backup; a failure here
   * (the store busy for 5 s) does not undo the backup */
  tk_err_t e;
  if (tk_store_meta_set(tk_office_store(home), TK_META_LAST_BACKUP, bi->created, &e) != 0)
    TK_LOG(TK_LOG_WARN, "hub", "backup written, but its time not noted: %s",
           tk_err_str(&e));
  clock_gettime(CLOCK_MONOTONIC, &t1);
  bi->seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
done:
  free(text);
  json_decref(m);
  if (rc) remove_partial(partial, NULL);
  return rc;
}

/* ---- restore --------------------------------------------------------------- */

/* Reads the whole small file path (at most max bytes) into a new string. */
static int read_small(const char *path, size_t max, char **out, tk_err_t *err)
{
  *out = NULL;
  FILE *f = fopen(path, "rb");
  if (!f)
    return tk_err_set(err, TK_ENOTFOUND, "cannot open %s: %s", path, strerror(errno));
  char *buf = malloc(max + 1);
  size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
  fclose(f);
  if (!buf) return tk_err_set(err, TK_ENOMEM, "out of memory reading %s", path);
  if (n > max) {
    free(buf);
    return tk_err_set(err, TK_ELIMIT, "%s is larger than %zu bytes", path, max);
  }
  buf[n] = '\0';
  *out = buf;
  return 0;
}

/* Checks the backup folder: SHA256SUMS and the manifest name the same
 * files with the same hashes, and every file hashes to what they say.
 * *mo gets the manifest, *fl the files. Nothing is written. */
static int verify_backup(const char *dir, json_t **mo, file_list_t *fl, tk_err_t *err)
{
  char p[PATH_MAX], hex[2 * TK_HASH_LEN + 1];
  char *sums = NULL, *text = NULL;
  json_t *m = NULL;
  int rc = 0;
  uint64_t size;
  *mo = NULL;
  fl->n = 0;
  size_t dl = strlen(dir);
  if (dl >= 8 && !strcmp(dir + dl - 8, ".partial"))
    return tk_err_set(err, TK_EINVAL,
                      "%s is a backup that was cut before it was whole "
                      "(its name ends in .partial): use another backup",
                      dir);
  struct stat sb;
  if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
    return tk_err_set(err, TK_ENOTFOUND, "%s is not a backup folder (%s)", dir,
                      stat(dir, &sb) != 0 ? strerror(errno) : "not a folder");
  rc = pjoin(p, sizeof p, dir, SUMS, err);
  if (!rc && access(p, F_OK) != 0)
    return tk_err_set(err, TK_EINVAL,
                      "%s is not a whole backup: it has no %s (a backup that was cut, "
                      "or not a tunduk hub backup)",
                      dir, SUMS);
  if (!rc) rc = read_small(p, MAX_SUMS_BYTES, &sums, err);
  if (rc) goto done;
  /* every line "HEX  NAME" */
  for (char *line = sums, *next; line && *line; line = next) {
    next = strchr(line, '\n');
    if (next) *next++ = '\0';
    size_t ll = strlen(line);
    if (ll < 2 * TK_HASH_LEN + 3 || line[2 * TK_HASH_LEN] != ' ' ||
        line[2 * TK_HASH_LEN + 1] != ' ' || !name_ok(line + 2 * TK_HASH_LEN + 2)) {
      rc = tk_err_set(err, TK_EFORMAT,
                      "%s/%s: a line is not 'SHA256  NAME' of a backup "
                      "file: %.80s",
                      dir, SUMS, line);
      goto done;
    }
    if (fl->n == MAX_FILES) {
      rc = tk_err_set(err, TK_ELIMIT, "%s/%s lists more than %d files", dir, SUMS,
                      MAX_FILES);
      goto done;
    }
    memcpy(fl->hex[fl->n], line, 2 * TK_HASH_LEN);
    fl->hex[fl->n][2 * TK_HASH_LEN] = '\0';
    snprintf(fl->name[fl->n], sizeof fl->name[0], "%s", line + 2 * TK_HASH_LEN + 2);
    fl->n++;
  }
  int have_manifest = 0, have_store = 0;
  for (int i = 0; i < fl->n; i++) {
    rc = pjoin(p, sizeof p, dir, fl->name[i], err);
    if (!rc) rc = hash_file(p, hex, &size, err);
    if (rc == TK_ENOTFOUND) {
      rc = tk_err_set(err, TK_EINVAL, "%s is missing from the backup (%s lists it)", p,
                      SUMS);
      goto done;
    }
    if (rc) goto done;
    if (strcasecmp(hex, fl->hex[i]) != 0) {
      rc = tk_err_set(err, TK_EHASH,
                      "%s does not match its SHA-256 in %s: the backup was changed or "
                      "damaged; nothing was restored",
                      p, SUMS);
      goto done;
    }
    fl->size[i] = size;
    have_manifest |= !strcmp(fl->name[i], MANIFEST);
    have_store |= !strcmp(fl->name[i], TK_HOME_STOREFILE);
  }
  if (!have_manifest || !have_store) {
    rc = tk_err_set(err, TK_EINVAL, "%s/%s does not list %s: not a whole backup", dir,
                    SUMS, have_manifest ? TK_HOME_STOREFILE : MANIFEST);
    goto done;
  }
  rc = pjoin(p, sizeof p, dir, MANIFEST, err);
  if (!rc) rc = read_small(p, MAX_MANIFEST_BYTES, &text, err);
  if (rc) goto done;
  json_error_t je;
  m = json_loads(text, 0, &je);
  const char *format = m ? json_string_value(json_object_get(m, "format")) : NULL;
  json_t *files = m ? json_object_get(m, "files") : NULL;
  if (!format || strcmp(format, BACKUP_FORMAT) != 0 || !json_is_array(files) ||
      !json_is_object(json_object_get(m, "counts"))) {
    rc = tk_err_set(err, TK_EFORMAT, "%s is not a tunduk hub backup manifest%s%s", p,
                    m ? "" : ": ", m ? "" : je.text);
    goto done;
  }
  json_int_t fv = json_integer_value(json_object_get(m, "format_version"));
  if (fv < 1 || fv > BACKUP_FORMAT_VERSION) {
    rc = tk_err_set(err, TK_EVERSION,
                    "%s is of backup format %lld; this tunduk reads up "
                    "to %d",
                    p, (long long)fv, BACKUP_FORMAT_VERSION);
    goto done;
  }
  /* the manifest names every file but itself, each as SHA256SUMS does */
  if ((int)json_array_size(files) != fl->n - 1) {
    rc = tk_err_set(err, TK_EHASH, "%s and %s/%s do not list the same files", p, dir,
                    SUMS);
    goto done;
  }
  size_t k;
  json_t *f;
  json_array_foreach(files, k, f)
  {
    const char *name = json_string_value(json_object_get(f, "name"));
    const char *h = json_string_value(json_object_get(f, "sha256"));
    json_int_t sz = json_integer_value(json_object_get(f, "size"));
    int found = 0;
    for (int i = 0; name && h && i < fl->n; i++)
      if (!strcmp(fl->name[i], name))
        found = !strcasecmp(fl->hex[i], h) && (uint64_t)sz == fl->size[i];
    if (!found) {
      rc = tk_err_set(err, TK_EHASH,
                      "%s: its entry for %s does not match %s/%s or the file", p,
                      name ? name : "(no name)", dir, SUMS);
      goto done;
    }
  }
  *mo = m;
  m = NULL;
done:
  free(sums);
  free(text);
  json_decref(m);
  return rc;
}

static int listed(const file_list_t *fl, const char *name)
{
  for (int i = 0; i < fl->n; i++)
    if (!strcmp(fl->name[i], name)) return 1;
  return 0;
}

static uint64_t mcount(json_t *m, const char *what)
{
  return (uint64_t)json_integer_value(
      json_object_get(json_object_get(m, "counts"), what));
}

/* The store s is the hub's whose key file is key: the hub knows its own
 * device. A backup of another hub would serve offices a store they never
 * synced with under a key they did not pin, or none under a key they did. */
static int same_hub(tk_store_t *s, const char *key, const char *dir, tk_err_t *err)
{
  tk_identity_t *id = NULL;
  tk_device_info_t d;
  char printed[TK_DEVICE_ID_STRLEN];
  int rc = tk_identity_load(&id, key, NULL, 0, err);
  if (rc) return rc;
  tk_device_id_format(printed, id->id);
  rc = tk_store_device_get(s, id->id, &d, NULL);
  tk_identity_free(id);
  if (rc == TK_ENOTFOUND)
    return tk_err_set(err, TK_EINVAL,
                      "the backup %s is of another hub: its store does not know the hub "
                      "%s of the key file %s; nothing was restored",
                      dir, printed, key);
  return rc ? tk_err_set(err, rc, "reading the backup's store: %s", tk_strerror(rc)) : 0;
}

int tk_hub_restore_dir(const char *home, const char *dir, tk_hub_restore_info_t *ri,
                       tk_err_t *err)
{
  char store[PATH_MAX], tmp[PATH_MAX], wal[PATH_MAX], shm[PATH_MAX], key[PATH_MAX];
  char p[PATH_MAX], q[PATH_MAX + 16];
  static file_list_t fl;
  json_t *m = NULL;
  tk_store_t *s = NULL;
  int lock = -1, key_from_backup = 0;
  memset(ri, 0, sizeof *ri);
  int rc = tk_hub_lock(home, &lock, err);
  if (!rc) rc = verify_backup(dir, &m, &fl, err);
  if (!rc) rc = tk_home_store_path(store, sizeof store, home, err);
  if (!rc) rc = tk_home_store_wal_path(wal, sizeof wal, home, err);
  if (!rc) rc = tk_home_store_shm_path(shm, sizeof shm, home, err);
  if (!rc) rc = tk_home_key_path(key, sizeof key, home, err);
  if (rc) goto done;
  if (access(key, F_OK) != 0) {
    if (!listed(&fl, TK_HOME_KEYFILE)) {
      rc = tk_err_set(err, TK_ENOTFOUND,
                      "%s has no key file and the backup %s holds none (made without "
                      "--with-key): put the hub's device.key back from its offline copy "
                      "first; without it offices cannot recognise this hub",
                      home, dir);
      goto done;
    }
    key_from_backup = 1;
  }
  int n = snprintf(tmp, sizeof tmp, "%s.restore", store);
  if (n < 0 || (size_t)n >= sizeof tmp) {
    rc = tk_err_set(err, TK_ELIMIT, "home folder path is too long: %s", home);
    goto done;
  }
  unlink(tmp);
  rc = pjoin(q, sizeof q, dir, TK_HOME_STOREFILE, err);
  if (!rc) rc = copy_file(q, tmp, err);
  if (!rc && key_from_backup) rc = pjoin(p, sizeof p, dir, TK_HOME_KEYFILE, err);
  if (rc) goto done;
  /* a tunduk store (opened, migrated if older) holding what the manifest
   * says, that gets a new identity */
  if (tk_store_open(&s, tmp, 0, err) != 0) {
    char why[sizeof err->msg];
    snprintf(why, sizeof why, "%s", err->msg);
    rc = tk_err_set(err, TK_EINVAL, "%s is not a tunduk hub store (%s)", q, why);
  }
  if (!rc) rc = same_hub(s, key_from_backup ? p : key, dir, err);
  if (!rc) rc = tk_store_counts(s, &ri->counts, err);
  if (!rc && (ri->counts.revisions != mcount(m, "revisions") ||
              ri->counts.chunks != mcount(m, "chunks") ||
              ri->counts.records != mcount(m, "records")))
    rc = tk_err_set(err, TK_EHASH,
                    "%s holds %llu revisions, %llu records and %llu chunks; its manifest "
                    "says %llu, %llu and %llu: nothing was restored",
                    q, (unsigned long long)ri->counts.revisions,
                    (unsigned long long)ri->counts.records,
                    (unsigned long long)ri->counts.chunks,
                    (unsigned long long)mcount(m, "revisions"),
                    (unsigned long long)mcount(m, "records"),
                    (unsigned long long)mcount(m, "chunks"));
  if (!rc) rc = tk__hub_store_identity_new(s, ri->store_id, err);
  const char *created = json_string_value(json_object_get(m, "created"));
  if (!rc && created && strlen(created) < 32)
    rc = tk_store_meta_set(s, TK_META_LAST_BACKUP, created, err);
  tk_store_close(s);
  if (!rc && key_from_backup) rc = copy_file(p, key, err);
  if (rc) {
    unlink(tmp);
    goto done;
  }

  /* the current store aside, with its WAL (it may hold commits not yet in
   * the file): renamed together, it opens as it was */
  if (access(store, F_OK) == 0) {
    char stamp[32];
    struct tm tm;
    time_t now = time(NULL);
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    n = snprintf(ri->aside, sizeof ri->aside, "%s.before-restore-%s", store, stamp);
    if (n < 0 || (size_t)n >= sizeof ri->aside || access(ri->aside, F_OK) == 0) {
      rc = tk_err_set(err, TK_EEXIST, "cannot keep the current store aside as %s",
                      ri->aside);
      unlink(tmp);
      goto done;
    }
    snprintf(q, sizeof q, "%s-wal", ri->aside);
    if (rename(store, ri->aside) != 0 ||
        (access(wal, F_OK) == 0 && rename(wal, q) != 0)) {
      rc = tk_err_set(err, TK_EIO, "cannot keep the current store aside as %s: %s",
                      ri->aside, strerror(errno));
      unlink(tmp);
      goto done;
    }
    unlink(shm);
  }
  if (rename(tmp, store) != 0) {
    rc = tk_err_set(err, TK_EIO, "cannot put %s in place: %s", store, strerror(errno));
    unlink(tmp);
    goto done;
  }
  fsync_path(home, NULL);
  rc = tk_hub_store_mark(home, ri->store_id, ri->counts.feed_end, err);
  if (rc) goto done;

  /* the config and plugins, where the home has none (a new machine) */
  if (listed(&fl, TK_HOME_HUB_CONFIG) &&
      tk_home_hub_config_path(q, sizeof q, home, NULL) == 0 && access(q, F_OK) != 0 &&
      pjoin(p, sizeof p, dir, TK_HOME_HUB_CONFIG, NULL) == 0 &&
      copy_file(p, q, NULL) == 0)
    ri->config_restored = 1;
  char pd[PATH_MAX];
  if (tk_home_plugins_path(pd, sizeof pd, home, NULL) == 0 && access(pd, F_OK) != 0) {
    int made = 0;
    for (int i = 0; i < fl.n; i++) {
      if (strncmp(fl.name[i], TK_HOME_PLUGIN_SUBDIR "/",
                  strlen(TK_HOME_PLUGIN_SUBDIR) + 1))
        continue;
      if (!made && mkdir(pd, 0700) != 0) break;
      made = 1;
      if (pjoin(p, sizeof p, dir, fl.name[i], NULL) == 0 &&
          pjoin(q, sizeof q, home, fl.name[i], NULL) == 0 && copy_file(p, q, NULL) == 0)
        ri->plugins_restored++;
    }
  }
  ri->key_restored = key_from_backup;
done:
  json_decref(m);
  if (lock >= 0) close(lock);
  return rc;
}
