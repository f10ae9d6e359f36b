/*
 * office_plugin_set.c: the organisation's plugin set (tk_office.h, "the
 * organisation's plugin set"): publishing a folder of plugins as a new
 * revision of a vault's one "plugin-set" record, following a vault, and
 * installing the followed vault's set into HOME/plugin-set/.
 *
 * No new protocol: a set is a record like any other, so it is signed by
 * its author, encrypted under the vault key, refused by the hub from a
 * device that may not write the vault, and counted here only when the
 * vault's verified membership log says its author was a writer
 * (tk_office_current, tk_office_member_check). What this file adds is the
 * body's bounds, the sandbox check of every file, "newer than installed",
 * and an install that never leaves a half-written folder in use: the files
 * are written into HOME/plugin-set.new, each synced, then swapped with
 * HOME/plugin-set in one rename (RENAME_EXCHANGE; where the file system
 * has none, two renames, and a crash between them leaves no set installed,
 * which the next sync installs again), under HOME/plugin-set.lock.
 *
 * Invariants: the installed folder holds a set whose every file loaded in
 * the sandbox, and its VERSION file names the revision it came from; a set
 * refused for any reason changes nothing on disk.
 *
 * Threads: one thread at a time, as tk_office_t.
 */
#define _GNU_SOURCE /* renameat2 */
#include "office_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tk_body.h"
#include "tk_meta.h"
#include "tk_plugin.h"

#define VERSION_FILE "VERSION"
#define VERSION_MAX 4096 /* bytes of a VERSION file read back */

/* One file of a set: a name and its source (pointers into a json_t or a
 * buffer the caller keeps). */
typedef struct set_file {
  const char *name;
  const char *src;
  size_t len;
} set_file_t;

/* What HOME/plugin-set/VERSION says (all zero / empty when no set is
 * installed or the file does not read). */
typedef struct installed {
  uint64_t version;
  char revision[2 * TK_REV_ID_LEN + 1];
  char author[TK_DEVICE_ID_STRLEN];
  char vault[TK_MAX_VAULT_LEN + 1];
} installed_t;

/* ---- names and bodies --------------------------------------------------------- */

/* [a-z0-9_-]+\.lua within TK_PLUGIN_MAX_NAME bytes. */
static int file_name_ok(const char *s)
{
  size_t n = strlen(s);
  if (n <= 4 || n > TK_PLUGIN_MAX_NAME || strcmp(s + n - 4, ".lua") != 0) return 0;
  for (size_t i = 0; i < n - 4; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
      return 0;
  }
  return 1;
}

static int cmp_files(const void *a, const void *b)
{
  return strcmp(((const set_file_t *)a)->name, ((const set_file_t *)b)->name);
}

/* The version of a set body: 1..TK_OFFICE_PLUGIN_SET_MAX_VERSION, else 0. */
static uint64_t body_version(const json_t *body)
{
  const json_t *v = json_object_get(body, "version");
  if (!json_is_integer(v) || json_integer_value(v) < 1 ||
      (uint64_t)json_integer_value(v) > TK_OFFICE_PLUGIN_SET_MAX_VERSION)
    return 0;
  return (uint64_t)json_integer_value(v);
}

/* Checks a set's body against its bounds and fills files (sorted by name,
 * pointing into body; TK_OFFICE_PLUGIN_SET_MAX_FILES entries). TK_EINVAL
 * naming what is wrong. */
static int body_files(const json_t *body, set_file_t *files, size_t *n, tk_err_t *err)
{
  const char *key;
  const json_t *v;
  *n = 0;
  if (!json_is_object(body))
    return tk_err_set(err, TK_EINVAL, "the set is not an object");
  json_object_foreach((json_t *)body, key, v)
  {
    if (strcmp(key, "version") && strcmp(key, "files") && strcmp(key, "note"))
      return tk_err_set(err, TK_EINVAL, "unknown field '%.64s' (version, files, note)",
                        key);
  }
  if (!body_version(body))
    return tk_err_set(err, TK_EINVAL, "\"version\" must be an integer from 1 to %llu",
                      (unsigned long long)TK_OFFICE_PLUGIN_SET_MAX_VERSION);
  const json_t *note = json_object_get(body, "note");
  if (note &&
      (!json_is_string(note) || json_string_length(note) > TK_OFFICE_PLUGIN_SET_MAX_NOTE))
    return tk_err_set(err, TK_EINVAL, "\"note\" must be a string of at most %u bytes",
                      TK_OFFICE_PLUGIN_SET_MAX_NOTE);
  const json_t *fs = json_object_get(body, "files");
  if (!json_is_object(fs) || json_object_size(fs) == 0)
    return tk_err_set(err, TK_EINVAL,
                      "\"files\" must be an object of one or more plugins");
  if (json_object_size(fs) > TK_OFFICE_PLUGIN_SET_MAX_FILES)
    return tk_err_set(err, TK_EINVAL, "the set has %zu files; at most %d",
                      json_object_size(fs), TK_OFFICE_PLUGIN_SET_MAX_FILES);
  json_object_foreach((json_t *)fs, key, v)
  {
    if (!file_name_ok(key))
      return tk_err_set(err, TK_EINVAL,
                        "file name '%.80s' is not allowed (use [a-z0-9_-]+.lua, at most "
                        "%d bytes)",
                        key, TK_PLUGIN_MAX_NAME);
    if (!json_is_string(v))
      return tk_err_set(err, TK_EINVAL, "file %s is not a string", key);
    if (json_string_length(v) > TK_PLUGIN_MAX_SOURCE)
      return tk_err_set(err, TK_EINVAL, "file %s has %zu bytes; at most %u", key,
                        json_string_length(v), TK_PLUGIN_MAX_SOURCE);
    files[*n].name = key;
    files[*n].src = json_string_value(v);
    files[*n].len = json_string_length(v);
    (*n)++;
  }
  qsort(files, *n, sizeof *files, cmp_files);
  return 0;
}

/* Every file compiles, runs its top level and declares at least one thing,
 * all of them together in one jailed set (so two files declaring the same
 * name are refused as the loader would). TK_EPLUGIN / TK_EFORMAT with the
 * plugin's message. */
static int files_load(const set_file_t *files, size_t n, tk_err_t *err)
{
  tk_plugin_set_t *s = NULL;
  int rc = tk_plugin_set_new_jailed(&s, NULL, 1, err);
  for (size_t i = 0; !rc && i < n; i++)
    rc = tk_plugin_set_add_source(s, files[i].name, files[i].src, files[i].len, err);
  for (size_t i = 0; !rc && i < n; i++) {
    size_t decls = 0;
    for (int k = 0; k < TK_PLUGIN_NKINDS; k++)
      for (size_t j = 0; j < tk_plugin_set_count(s, k); j++)
        decls += strcmp(tk_plugin_set_decl(s, k, j)->plugin, files[i].name) == 0;
    if (!decls)
      rc = tk_err_set(err, TK_EPLUGIN,
                      "plugin %s declares nothing (no content type, export or moderation "
                      "rule)",
                      files[i].name);
  }
  tk_plugin_set_free(s);
  return rc;
}

/* ---- the vault's set ------------------------------------------------------------ */

/* The vault's current set as this office counts it. */
typedef struct found {
  int have;
  uint64_t version;
  uint8_t record[TK_RECORD_ID_LEN], rev[TK_REV_ID_LEN];
  uint32_t nheads;
  tk_rev_meta_t meta;
  json_t *body;
} found_t;

static void found_free(found_t *f)
{
  json_decref(f->body);
  memset(f, 0, sizeof *f);
}

/* Finds the vault's set: among its plugin-set records (one, unless two
 * admins made the first at once), each one's current version (a revision
 * whose author the membership log lets count), the highest version wins;
 * at equal versions the later one, then the lower record id, so every
 * office picks the same. Deleted records are passed over; a body without
 * a valid version counts as version 0 (found, so that it is reported).
 * TK_ENOKEY when this device holds no key for the vault. */
static int set_find(tk_office_t *o, const char *vault, found_t *f, tk_err_t *err)
{
  tk_record_info_t *recs = NULL;
  size_t nrecs = 0;
  memset(f, 0, sizeof *f);
  int rc = tk_store_records_array(o->store, TK_OFFICE_PLUGIN_SET_TYPE, vault, 0, &recs,
                                  &nrecs, err);
  for (size_t i = 0; !rc && i < nrecs; i++) {
    uint8_t rev[TK_REV_ID_LEN];
    int not_winner = 0;
    uint32_t refused = 0;
    json_t *body = NULL;
    tk_rev_meta_t meta;
    tk_err_t e;
    int crc = tk_office_current(o, recs[i].id, rev, &not_winner, &refused, &e);
    if (crc == TK_EACCESS) continue; /* no revision of it counts */
    if (!crc) crc = tk_office_read(o, rev, &body, &meta, &e);
    if (crc) {
      rc = tk_err_set(err, crc, "%s", e.msg);
      break;
    }
    uint64_t v = tk_body_is_tombstone(body) ? 0 : body_version(body);
    int better =
        !tk_body_is_tombstone(body) &&
        (!f->have || v > f->version ||
         (v == f->version && (meta.hlc > f->meta.hlc ||
                              (meta.hlc == f->meta.hlc &&
                               memcmp(recs[i].id, f->record, TK_RECORD_ID_LEN) < 0))));
    if (!better) {
      json_decref(body);
      continue;
    }
    json_decref(f->body);
    f->have = 1;
    f->version = v;
    f->body = body;
    f->meta = meta;
    f->nheads = recs[i].nheads;
    memcpy(f->record, recs[i].id, TK_RECORD_ID_LEN);
    memcpy(f->rev, rev, TK_REV_ID_LEN);
  }
  free(recs);
  if (rc) found_free(f);
  return rc;
}

/* The set's revision verifies, its author was a writer of the vault per
 * the verified log when it wrote it (what tk_office_current already
 * ensured, said here explicitly), and is one still: a set by an admin
 * removed since, even one written with the old key before the removal and
 * relayed only now, is not installed. */
static int author_check(tk_office_t *o, const found_t *f, tk_err_t *err)
{
  tk_buf_t b = TK_BUF_INIT;
  tk_rev_t rev;
  const tk_member_log_t *l = NULL;
  char why[200];
  int rc = tk_store_get_rev(o->store, f->rev, &b, err);
  if (!rc) rc = tk_rev_parse(&rev, TK_SLICE(b.p, b.n), err);
  if (!rc) rc = tk_rev_check_id(&rev, f->rev, err);
  if (!rc) rc = tk_rev_verify_sig(&rev, err);
  if (!rc && tk_office_member_check(o, &rev, why, sizeof why) != 0)
    rc = tk_err_set(err, TK_EACCESS, "%s", why);
  if (!rc) rc = tk_office_log(o, rev.vault, &l, err);
  if (!rc) {
    const tk_member_t *m = tk_member_find(l, rev.author);
    if (!m || !m->active || !m->writer)
      rc = tk_err_set(err, TK_EACCESS,
                      "its author is not a writer of vault %s now (membership log)",
                      rev.vault);
  }
  tk_buf_free(&b);
  return rc;
}

/* ---- publishing ----------------------------------------------------------------- */

/* Reads the *.lua files of dir into body's "files" (names checked, sizes
 * bounded, UTF-8 text). Other files are left alone. */
static int read_dir(const char *dir, json_t *files, tk_err_t *err)
{
  DIR *d = opendir(dir);
  struct dirent *de;
  tk_buf_t b = TK_BUF_INIT;
  int rc = 0;
  if (!d) return tk_err_set(err, TK_EINVAL, "cannot read %s: %s", dir, strerror(errno));
  while (!rc && (de = readdir(d))) {
    char path[PATH_MAX];
    struct stat st;
    size_t n = strlen(de->d_name);
    if (de->d_name[0] == '.' || n < 4 || strcmp(de->d_name + n - 4, ".lua") != 0)
      continue;
    if (!file_name_ok(de->d_name)) {
      rc = tk_err_set(err, TK_EINVAL,
                      "%s/%s: a plugin set's file names are [a-z0-9_-]+.lua (at most %d "
                      "bytes)",
                      dir, de->d_name, TK_PLUGIN_MAX_NAME);
      break;
    }
    if (json_object_size(files) == TK_OFFICE_PLUGIN_SET_MAX_FILES) {
      rc = tk_err_set(err, TK_ELIMIT, "%s has more than %d .lua files", dir,
                      TK_OFFICE_PLUGIN_SET_MAX_FILES);
      break;
    }
    if (snprintf(path, sizeof path, "%s/%s", dir, de->d_name) >= (int)sizeof path) {
      rc = tk_err_set(err, TK_ELIMIT, "path too long: %s/%s", dir, de->d_name);
      break;
    }
    FILE *fp = NULL;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
      rc = tk_err_set(err, TK_EINVAL, "%s is not a regular file", path);
      break;
    }
    if (!(fp = fopen(path, "rb"))) {
      rc = tk_err_set(err, TK_EINVAL, "cannot read %s: %s", path, strerror(errno));
      break;
    }
    b.n = 0;
    rc = tk_buf_reserve(&b, TK_PLUGIN_MAX_SOURCE + 1);
    if (!rc) b.n = fread(b.p, 1, TK_PLUGIN_MAX_SOURCE + 1, fp);
    if (!rc && ferror(fp)) rc = tk_err_set(err, TK_EIO, "cannot read %s", path);
    fclose(fp);
    if (rc == TK_ENOMEM) tk_err_set(err, rc, "out of memory");
    if (rc) break;
    if (b.n > TK_PLUGIN_MAX_SOURCE) {
      rc = tk_err_set(err, TK_ELIMIT, "%s is larger than %u bytes", path,
                      TK_PLUGIN_MAX_SOURCE);
      break;
    }
    json_t *src = json_stringn((const char *)b.p, b.n);
    if (!src) {
      rc = tk_err_set(err, TK_EINVAL, "%s is not UTF-8 text", path);
      break;
    }
    json_object_set_new(files, de->d_name, src);
  }
  closedir(d);
  tk_buf_free(&b);
  if (!rc && json_object_size(files) == 0)
    rc = tk_err_set(err, TK_EINVAL, "%s holds no .lua files", dir);
  return rc;
}

/* The note of a set published without one: what a listing shows of it,
 * "plugin set 3: 7 files (appeal.lua, case.lua, ...)". */
static void default_note(json_t *body, uint64_t version, const set_file_t *files,
                         size_t n)
{
  char note[TK_OFFICE_PLUGIN_SET_MAX_NOTE];
  size_t at = (size_t)snprintf(note, sizeof note, "plugin set %llu: %zu file%s (",
                               (unsigned long long)version, n, n == 1 ? "" : "s");
  for (size_t i = 0; i < n && at < sizeof note; i++)
    at += (size_t)snprintf(note + at, sizeof note - at, "%s%s", i ? ", " : "",
                           files[i].name);
  if (at < sizeof note) snprintf(note + at, sizeof note - at, ")");
  json_object_set_new(body, "note", json_string(note));
}

int tk_office_plugin_publish(tk_office_t *o, const char *vault, const char *dir,
                             uint64_t version, const char *note,
                             tk_office_set_published_t *out, tk_err_t *err)
{
  set_file_t files[TK_OFFICE_PLUGIN_SET_MAX_FILES];
  size_t nfiles = 0;
  tk_vault_info_t vi;
  tk_buf_t text = TK_BUF_INIT;
  found_t cur;
  uint8_t rec[TK_RECORD_ID_LEN], rev[TK_REV_ID_LEN];
  json_t *body = json_object(), *fs = json_object();
  memset(out, 0, sizeof *out);
  memset(&cur, 0, sizeof cur);
  int rc = body && fs ? 0 : tk_err_set(err, TK_ENOMEM, "out of memory");
  if (!rc) rc = tk_office_name_check("vault", vault, err);
  if (!rc && tk_store_vault_get(o->store, vault, &vi, NULL) != 0)
    rc = tk_err_set(err, TK_EINVAL, "no vault '%s' (see 'tunduk vault list')", vault);
  if (!rc && version > TK_OFFICE_PLUGIN_SET_MAX_VERSION)
    rc = tk_err_set(err, TK_EINVAL, "version %llu is over the maximum %llu",
                    (unsigned long long)version,
                    (unsigned long long)TK_OFFICE_PLUGIN_SET_MAX_VERSION);
  if (!rc && note && strlen(note) > TK_OFFICE_PLUGIN_SET_MAX_NOTE)
    rc = tk_err_set(err, TK_EINVAL, "the note has more than %u bytes",
                    TK_OFFICE_PLUGIN_SET_MAX_NOTE);
  if (!rc) rc = read_dir(dir, fs, err);
  if (!rc) {
    json_object_set_new(body, "version", json_integer(1)); /* set below */
    json_object_set(body, "files", fs);
    if (note) json_object_set_new(body, "note", json_string(note));
    rc = body_files(body, files, &nfiles, err);
  }
  if (!rc && (rc = files_load(files, nfiles, err)) != 0 && rc != TK_ENOMEM) {
    rc = TK_EINVAL; /* a file that does not load is bad input: nothing is written */
    if (err) err->code = rc;
  }
  if (!rc) rc = tk_office_need_keys(o, err);
  if (!rc) rc = tk__office_may_write(o, vault, err);
  if (!rc) rc = set_find(o, vault, &cur, err);
  if (!rc && !version) version = cur.version + 1;
  if (!rc && cur.have && version <= cur.version)
    rc =
        tk_err_set(err, TK_EINVAL,
                   "version %llu is not above the current set's version %llu in vault %s",
                   (unsigned long long)version, (unsigned long long)cur.version, vault);
  if (!rc && version > TK_OFFICE_PLUGIN_SET_MAX_VERSION)
    rc = tk_err_set(err, TK_EINVAL, "the version would pass the maximum %llu",
                    (unsigned long long)TK_OFFICE_PLUGIN_SET_MAX_VERSION);
  if (!rc) json_object_set_new(body, "version", json_integer((json_int_t)version));
  if (!rc && !note) default_note(body, version, files, nfiles);
  if (!rc && (tk_body_dump(body, &text) < 0 || text.n > TK_MAX_BODY_JSON))
    rc = tk_err_set(err, TK_ELIMIT,
                    "the set's body (%zu bytes of JSON) is over the record limit of %u",
                    text.n, TK_MAX_BODY_JSON);
  if (!rc && cur.have) {
    /* over every head when two publications crossed: the new one settles it */
    rc = tk_office_update(o, cur.record, body,
                          cur.nheads > 1 ? TK_PARENTS_ALL_HEADS : TK_PARENTS_WINNER, rev,
                          err);
    memcpy(rec, cur.record, sizeof rec);
  } else if (!rc) {
    rc = tk_office_new(o, TK_OFFICE_PLUGIN_SET_TYPE, vault, body, rec, rev, err);
    out->created = 1;
  }
  if (!rc) {
    out->version = version;
    out->nfiles = nfiles;
    tk_hex_encode(out->record, rec, TK_RECORD_ID_LEN);
    tk_hex_encode(out->revision, rev, TK_REV_ID_LEN);
  }
  found_free(&cur);
  tk_buf_free(&text);
  json_decref(fs);
  json_decref(body);
  return rc;
}

/* ---- the installed set --------------------------------------------------------- */

static int home_path(const tk_office_t *o, tk_home_kind_t kind, char *out, size_t cap,
                     tk_err_t *err)
{
  return tk_home_path(out, cap, o->home, kind, err);
}

/* Reads dir/VERSION; an absent or unreadable file is "nothing installed". */
static void installed_read(const char *dir, installed_t *in)
{
  char path[PATH_MAX], text[VERSION_MAX + 1], *line, *save = NULL;
  memset(in, 0, sizeof *in);
  if (snprintf(path, sizeof path, "%s/%s", dir, VERSION_FILE) >= (int)sizeof path) return;
  FILE *f = fopen(path, "rb");
  if (!f) return;
  size_t n = fread(text, 1, VERSION_MAX, f);
  fclose(f);
  text[n] = 0;
  for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    unsigned long long v;
    if (sscanf(line, "version %llu", &v) == 1 && v <= TK_OFFICE_PLUGIN_SET_MAX_VERSION)
      in->version = v;
    else if (strncmp(line, "revision ", 9) == 0)
      snprintf(in->revision, sizeof in->revision, "%s", line + 9);
    else if (strncmp(line, "author ", 7) == 0)
      snprintf(in->author, sizeof in->author, "%s", line + 7);
    else if (strncmp(line, "vault ", 6) == 0)
      snprintf(in->vault, sizeof in->vault, "%s", line + 6);
  }
  if (strlen(in->revision) != 2 * TK_REV_ID_LEN) memset(in, 0, sizeof *in);
}

static int write_file(const char *dir, const char *name, const char *p, size_t n,
                      tk_err_t *err)
{
  char path[PATH_MAX];
  if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
    return tk_err_set(err, TK_ELIMIT, "path too long: %s/%s", dir, name);
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return tk_err_set(err, TK_EIO, "cannot create %s: %s", path, strerror(errno));
  int rc = 0;
  while (!rc && n) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0)
      rc = tk_err_set(err, TK_EIO, "cannot write %s: %s", path, strerror(errno));
    else
      p += w, n -= (size_t)w;
  }
  if (!rc && fsync(fd) != 0)
    rc = tk_err_set(err, TK_EIO, "cannot sync %s: %s", path, strerror(errno));
  if (close(fd) != 0 && !rc)
    rc = tk_err_set(err, TK_EIO, "cannot write %s: %s", path, strerror(errno));
  return rc;
}

static int sync_dir(const char *dir, tk_err_t *err)
{
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int rc = fd >= 0 && fsync(fd) == 0 ? 0 : TK_EIO;
  if (fd >= 0) close(fd);
  return rc ? tk_err_set(err, rc, "cannot sync %s: %s", dir, strerror(errno)) : 0;
}

/* Removes a folder of plain files (what install writes); absent is fine. */
static int remove_dir(const char *dir, tk_err_t *err)
{
  DIR *d = opendir(dir);
  struct dirent *de;
  if (!d) return errno == ENOENT ? 0 : tk_err_set(err, TK_EIO, "cannot read %s", dir);
  while ((de = readdir(d))) {
    char p[PATH_MAX];
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
    if (snprintf(p, sizeof p, "%s/%s", dir, de->d_name) < (int)sizeof p) unlink(p);
  }
  closedir(d);
  if (rmdir(dir) != 0)
    return tk_err_set(err, TK_EIO, "cannot remove %s: %s", dir, strerror(errno));
  return 0;
}

/* Swaps the folder `fresh` in as `dir`; the old one, if any, is removed. */
static int swap_in(const char *fresh, const char *dir, tk_err_t *err)
{
  struct stat st;
  if (lstat(dir, &st) != 0) {
    if (rename(fresh, dir) != 0)
      return tk_err_set(err, TK_EIO, "cannot rename %s: %s", fresh, strerror(errno));
    return 0;
  }
#ifdef RENAME_EXCHANGE
  if (renameat2(AT_FDCWD, fresh, AT_FDCWD, dir, RENAME_EXCHANGE) == 0)
    return remove_dir(fresh, err); /* now the old set */
  if (errno != EINVAL && errno != ENOSYS)
    return tk_err_set(err, TK_EIO, "cannot swap %s in: %s", fresh, strerror(errno));
#endif
  char old[PATH_MAX];
  if (snprintf(old, sizeof old, "%s.old", dir) >= (int)sizeof old)
    return tk_err_set(err, TK_ELIMIT, "path too long: %s", dir);
  int rc = remove_dir(old, err);
  if (!rc && rename(dir, old) != 0)
    rc = tk_err_set(err, TK_EIO, "cannot rename %s: %s", dir, strerror(errno));
  if (!rc && rename(fresh, dir) != 0)
    rc = tk_err_set(err, TK_EIO, "cannot rename %s: %s", fresh, strerror(errno));
  return rc ? rc : remove_dir(old, err);
}

/* Writes the set into HOME/plugin-set.new, syncs it, swaps it in. */
static int install(tk_office_t *o, const char *vault, const found_t *f,
                   const set_file_t *files, size_t n, tk_err_t *err)
{
  char dir[PATH_MAX], fresh[PATH_MAX], lock[PATH_MAX], rev[2 * TK_REV_ID_LEN + 1],
      author[TK_DEVICE_ID_STRLEN], when[32];
  tk_buf_t v = TK_BUF_INIT;
  int lfd = -1;
  int rc = home_path(o, TK_HOME_PLUGIN_SET, dir, sizeof dir, err);
  if (!rc) rc = home_path(o, TK_HOME_PLUGIN_SET_NEW, fresh, sizeof fresh, err);
  if (!rc) rc = home_path(o, TK_HOME_PLUGIN_SET_LOCK, lock, sizeof lock, err);
  if (rc) return rc;
  if ((lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0 || flock(lfd, LOCK_EX))
    rc = tk_err_set(err, TK_EIO, "cannot lock %s: %s", lock, strerror(errno));
  if (!rc) rc = remove_dir(fresh, err); /* an install a crash interrupted */
  if (!rc && mkdir(fresh, 0700) != 0)
    rc = tk_err_set(err, TK_EIO, "cannot create %s: %s", fresh, strerror(errno));
  for (size_t i = 0; !rc && i < n; i++)
    rc = write_file(fresh, files[i].name, files[i].src, files[i].len, err);
  tk_hex_encode(rev, f->rev, TK_REV_ID_LEN);
  tk_device_id_format(author, f->meta.author);
  tk_office_time_format(when, (uint64_t)time(NULL) * 1000u);
  if (!rc && tk_buf_printf(&v,
                           "version %llu\nrevision %s\nauthor %s\nvault %s\n"
                           "installed %s\n",
                           (unsigned long long)f->version, rev, author, vault, when) < 0)
    rc = tk_err_set(err, TK_ENOMEM, "out of memory");
  if (!rc) rc = write_file(fresh, VERSION_FILE, (const char *)v.p, v.n, err);
  if (!rc) rc = sync_dir(fresh, err);
  if (!rc) rc = swap_in(fresh, dir, err);
  if (!rc) rc = sync_dir(o->home, err);
  if (rc) {
    tk_err_t ignore;
    remove_dir(fresh, &ignore);
  }
  if (lfd >= 0) close(lfd); /* and the lock with it */
  tk_buf_free(&v);
  return rc;
}

/* ---- following --------------------------------------------------------------- */

static int apply_msg(tk_office_set_apply_t *r, int status, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int apply_msg(tk_office_set_apply_t *r, int status, int rc, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->message, sizeof r->message, fmt, ap);
  va_end(ap);
  r->status = status;
  return rc;
}

/* "set 3" or "no set": what stays in use when a set is refused. */
static void keeping(const installed_t *in, char *out, size_t cap)
{
  if (in->version)
    snprintf(out, cap, "keeping set %llu", (unsigned long long)in->version);
  else
    snprintf(out, cap, "keeping the plugins in use");
}

int tk_office_plugin_set_apply(tk_office_t *o, tk_office_set_apply_t *r)
{
  char dir[PATH_MAX], keep[64], name[80] = "";
  set_file_t files[TK_OFFICE_PLUGIN_SET_MAX_FILES];
  size_t nfiles = 0;
  installed_t in;
  found_t f;
  tk_device_info_t d;
  tk_err_t e;
  memset(r, 0, sizeof *r);
  memset(&f, 0, sizeof f);
  tk_err_clear(&e);
  if (tk_store_meta_get(o->store, TK_META_PLUGIN_SET_VAULT, r->vault, sizeof r->vault,
                        NULL) != 0)
    return 0; /* no vault followed */
  int rc = home_path(o, TK_HOME_PLUGIN_SET, dir, sizeof dir, &e);
  if (rc) return apply_msg(r, TK_OFFICE_SET_REFUSED, rc, "plugins: %s", e.msg);
  installed_read(dir, &in);
  if (strcmp(in.vault, r->vault) != 0) memset(&in, 0, sizeof in); /* another vault's */
  r->installed = in.version;
  keeping(&in, keep, sizeof keep);
  rc = tk_office_need_keys(o, &e);
  if (!rc) rc = set_find(o, r->vault, &f, &e);
  if (rc)
    return apply_msg(r, TK_OFFICE_SET_REFUSED, rc,
                     "plugins: cannot read the plugin set of vault %s: %s; %s", r->vault,
                     e.msg, keep);
  if (!f.have)
    return apply_msg(r, TK_OFFICE_SET_NONE, 0, "plugins: no plugin set in vault %s yet",
                     r->vault);
  r->version = f.version;
  tk_device_id_format(r->author, f.meta.author);
  if (tk_store_device_get(o->store, f.meta.author, &d, NULL) == 0 && d.name[0])
    snprintf(name, sizeof name, " (%s)", d.name);
  char rev[2 * TK_REV_ID_LEN + 1];
  tk_hex_encode(rev, f.rev, TK_REV_ID_LEN);
  if (in.version && strcmp(rev, in.revision) == 0) {
    rc = apply_msg(r, TK_OFFICE_SET_CURRENT, 0, "plugins: set %llu from %s is installed",
                   (unsigned long long)f.version, r->vault);
  } else if (f.version && in.version && f.version <= in.version) {
    rc = apply_msg(r, TK_OFFICE_SET_IGNORED, 0,
                   "plugins: set %llu in %s (revision %.16s) is not above the installed "
                   "set %llu; not applied",
                   (unsigned long long)f.version, r->vault, rev,
                   (unsigned long long)in.version);
  } else if ((rc = author_check(o, &f, &e)) != 0 ||
             (rc = body_files(f.body, files, &nfiles, &e)) != 0 ||
             (rc = files_load(files, nfiles, &e)) != 0 ||
             (rc = install(o, r->vault, &f, files, nfiles, &e)) != 0) {
    char which[48] = "the set";
    if (f.version)
      snprintf(which, sizeof which, "set %llu", (unsigned long long)f.version);
    rc = apply_msg(r, TK_OFFICE_SET_REFUSED, rc,
                   "plugins: %s from %s (signed by %s%s) not installed: %s; %s", which,
                   r->vault, r->author, name, e.msg, keep);
  } else {
    r->installed = f.version;
    /* what this office loaded before is the old set: the next use reloads */
    tk_plugin_set_free(o->plugins);
    o->plugins = NULL;
    rc = apply_msg(r, TK_OFFICE_SET_INSTALLED, 0,
                   "plugins: installed set %llu from %s (signed by %s%s)",
                   (unsigned long long)f.version, r->vault, r->author, name);
  }
  if (r->status == TK_OFFICE_SET_INSTALLED || r->status == TK_OFFICE_SET_REFUSED)
    TK_LOG(TK_LOG_INFO, "office", "plugin set vault=%s version=%llu status=%s", r->vault,
           (unsigned long long)f.version,
           r->status == TK_OFFICE_SET_INSTALLED ? "installed" : "refused");
  found_free(&f);
  return rc;
}

int tk_office_plugin_follow(tk_office_t *o, const char *vault, tk_office_set_apply_t *r,
                            tk_err_t *err)
{
  tk_vault_info_t vi;
  memset(r, 0, sizeof *r);
  int rc = tk_office_name_check("vault", vault, err);
  if (!rc && tk_store_vault_get(o->store, vault, &vi, NULL) != 0)
    rc =
        tk_err_set(err, TK_EINVAL,
                   "no vault '%s' here yet (see 'tunduk vault list'; it arrives with the "
                   "grant, on sync)",
                   vault);
  if (!rc) rc = tk_store_meta_set(o->store, TK_META_PLUGIN_SET_VAULT, vault, err);
  if (rc) return rc;
  rc = tk_office_plugin_set_apply(o, r);
  return rc ? tk_err_set(err, rc, "%s", r->message) : 0;
}

int tk_office_plugin_set_info(tk_office_t *o, json_t **out, tk_err_t *err)
{
  char vault[TK_MAX_VAULT_LEN + 1], dir[PATH_MAX];
  installed_t in;
  *out = NULL;
  int rc = home_path(o, TK_HOME_PLUGIN_SET, dir, sizeof dir, err);
  if (rc) return rc;
  installed_read(dir, &in);
  int following = tk_store_meta_get(o->store, TK_META_PLUGIN_SET_VAULT, vault,
                                    sizeof vault, NULL) == 0;
  json_t *j = json_pack(
      "{s:o,s:o}", "following", following ? json_string(vault) : json_null(), "installed",
      in.version
          ? json_pack("{s:I,s:s,s:s,s:s}", "version", (json_int_t)in.version, "revision",
                      in.revision, "author", in.author, "vault", in.vault)
          : json_null());
  if (!j) return tk_err_set(err, TK_ENOMEM, "out of memory");
  *out = j;
  return 0;
}
