/*
 * test_office_home.c: the home folder's layout (tk_office_home.h): one path
 * per file, and a listing that names every file a freshly created office
 * home with an open store actually has on disk (compared with a directory
 * listing of its own), the admin's plugins and a stray file included.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tk_office.h"
#include "tk_office_home.h"
#include "tk_test.h"

#define PASS "correct horse"
#define MAX_SEEN 64

typedef struct seen {
  size_t n;
  char path[MAX_SEEN][2400];
  int kind[MAX_SEEN];
} seen_t;

static int note(void *ctx, const char *path, tk_home_kind_t kind, int is_dir)
{
  seen_t *s = ctx;
  (void)is_dir;
  if (s->n == MAX_SEEN) return -1;
  snprintf(s->path[s->n], sizeof s->path[0], "%s", path);
  s->kind[s->n++] = (int)kind;
  return 0;
}

/* Every entry under dir by a plain recursive readdir. */
static void list_dir(const char *dir, seen_t *s)
{
  DIR *d = opendir(dir);
  struct dirent *de;
  CHECK(d != NULL);
  while (d && (de = readdir(d))) {
    struct stat st;
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
    CHECK(s->n < MAX_SEEN);
    snprintf(s->path[s->n], sizeof s->path[0], "%s/%s", dir, de->d_name);
    CHECK(lstat(s->path[s->n], &st) == 0);
    s->n++;
    if (S_ISDIR(st.st_mode)) list_dir(s->path[s->n - 1], s);
  }
  if (d) closedir(d);
}

static int kind_of(const seen_t *s, const char *path)
{
  for (size_t i = 0; i < s->n; i++)
    if (strcmp(s->path[i], path) == 0) return s->kind[i];
  return -1;
}

static void test_paths(void)
{
  char p[64];
  tk_err_t e;
  CHECK_RC(tk_home_key_path(p, sizeof p, "/h", &e), 0);
  CHECK(strcmp(p, "/h/device.key") == 0);
  CHECK_RC(tk_home_store_path(p, sizeof p, "/h", &e), 0);
  CHECK(strcmp(p, "/h/store.db") == 0);
  CHECK_RC(tk_home_store_wal_path(p, sizeof p, "/h", &e), 0);
  CHECK(strcmp(p, "/h/store.db-wal") == 0);
  CHECK_RC(tk_home_store_shm_path(p, sizeof p, "/h", &e), 0);
  CHECK(strcmp(p, "/h/store.db-shm") == 0);
  CHECK_RC(tk_home_plugins_path(p, sizeof p, "/h", &e), 0);
  CHECK(strcmp(p, "/h/plugins") == 0);
  CHECK_RC(tk_home_hub_config_path(p, sizeof p, "/h", &e), 0);
  CHECK(strcmp(p, "/h/tundukd.conf") == 0);
  CHECK_RC(tk_home_store_path(p, 8, "/a/long/home", &e), TK_ELIMIT);
  CHECK(strstr(e.msg, "too long") != NULL);
}

static void test_every_file(void)
{
  char home[2048], p[2400];
  tk_office_t *o = NULL;
  tk_err_t e;
  seen_t walked, listed;
  CHECK_RC(tk_office_global_init(), 0);
  snprintf(home, sizeof home, "%s/home", tk_test_tmpdir());
  CHECK_RC(tk_office_create(home, "h", PASS, strlen(PASS), TK_OFFICE_KDF_INTERACTIVE, &e),
           0);
  CHECK_RC(tk_office_open(&o, home, &e), 0);
  CHECK_RC(tk_office_unlock(o, PASS, strlen(PASS), &e), 0);
  CHECK_RC(tk_office_vault_create(o, "v", &e), 0); /* a write: the WAL is there */
  snprintf(p, sizeof p, "%s/plugins", home);
  CHECK(mkdir(p, 0700) == 0);
  snprintf(p, sizeof p, "%s/plugins/mine.lua", home);
  FILE *f = fopen(p, "w");
  CHECK(f != NULL);
  fclose(f);
  snprintf(p, sizeof p, "%s/stray.txt", home);
  CHECK((f = fopen(p, "w")) != NULL);
  fclose(f);

  memset(&walked, 0, sizeof walked);
  memset(&listed, 0, sizeof listed);
  CHECK_RC(tk_home_files(home, note, &walked, &e), 0);
  list_dir(home, &listed);
  CHECK(walked.n == listed.n);
  for (size_t i = 0; i < listed.n; i++) {
    if (kind_of(&walked, listed.path[i]) < 0)
      fprintf(stderr, "  missed %s\n", listed.path[i]);
    CHECK(kind_of(&walked, listed.path[i]) >= 0);
  }
  snprintf(p, sizeof p, "%s/device.key", home);
  CHECK(kind_of(&walked, p) == TK_HOME_KEY);
  snprintf(p, sizeof p, "%s/store.db", home);
  CHECK(kind_of(&walked, p) == TK_HOME_STORE);
  snprintf(p, sizeof p, "%s/store.db-wal", home);
  CHECK(kind_of(&walked, p) == TK_HOME_STORE_WAL);
  snprintf(p, sizeof p, "%s/plugins", home);
  CHECK(kind_of(&walked, p) == TK_HOME_PLUGINS);
  snprintf(p, sizeof p, "%s/plugins/mine.lua", home);
  CHECK(kind_of(&walked, p) == TK_HOME_PLUGIN);
  snprintf(p, sizeof p, "%s/stray.txt", home);
  CHECK(kind_of(&walked, p) == TK_HOME_OTHER);
  /* children come before their folder, as a wipe removes them */
  size_t at_file = 0, at_dir = 0;
  for (size_t i = 0; i < walked.n; i++) {
    if (walked.kind[i] == TK_HOME_PLUGIN) at_file = i;
    if (walked.kind[i] == TK_HOME_PLUGINS) at_dir = i;
  }
  CHECK(at_file < at_dir);
  tk_office_close(o);
}

TK_TESTS(TK_TEST(test_paths), TK_TEST(test_every_file))
