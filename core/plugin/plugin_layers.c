/*
 * plugin_layers.c: a plugin set loaded from several folders (contract in
 * tk_plugin.h, "a set from several folders"). Owns the overlay by file
 * name (a later layer's file replaces an earlier one's), the choice of
 * what runs in place of a file that fails to load (the previous set's
 * version, else a lower layer's file), and the record of where each
 * plugin came from.
 *
 * Threads: as loading a set (one thread, no call in flight); prev is only
 * read (its plugins' kept sources), so it may serve calls meanwhile.
 */
#include "plugin_host.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* One file name across the layers: which layers hold it (bit i: layer i). */
typedef struct entry {
  char *name;
  unsigned mask;
} entry_t;

typedef struct listing {
  entry_t *v;
  size_t n;
  int single[TK_PLUGIN_MAX_LAYERS]; /* layer i is one file, not a folder */
} listing_t;

static int is_lua_name(const char *s)
{
  size_t n = strlen(s);
  return s[0] != '.' && n >= 5 && strcmp(s + n - 4, ".lua") == 0;
}

/* The file of name in layer i (cap bytes): 0, or TK_ELIMIT. */
static int path_of(const tk_plugin_layer_t *l, const listing_t *ls, size_t i,
                   const char *name, char *out, size_t cap)
{
  int n = ls->single[i] ? snprintf(out, cap, "%s", l[i].dir)
                        : snprintf(out, cap, "%s/%s", l[i].dir, name);
  return n < 0 || (size_t)n >= cap ? TK_ELIMIT : 0;
}

static int note(listing_t *ls, const char *name, size_t layer, tk_err_t *err)
{
  for (size_t i = 0; i < ls->n; i++)
    if (strcmp(ls->v[i].name, name) == 0) {
      ls->v[i].mask |= 1u << layer;
      return 0;
    }
  if (ls->n == TK_PLUGIN_MAX_FILES)
    return tk_err_set(err, TK_ELIMIT, "more than %d plugins in the plugin folders",
                      TK_PLUGIN_MAX_FILES);
  if (!(ls->v[ls->n].name = strdup(name)))
    return tk_err_set(err, TK_ENOMEM, "out of memory");
  ls->v[ls->n++].mask = 1u << layer;
  return 0;
}

/* Adds layer i's *.lua names (regular files only) to the listing. */
static int list_layer(listing_t *ls, const tk_plugin_layer_t *l, size_t i, tk_err_t *err)
{
  struct stat st;
  if (stat(l->dir, &st) != 0) {
    if (l->optional && errno == ENOENT) return 0;
    return tk_err_set(err, TK_EIO, "plugin folder %s: %s", l->dir, strerror(errno));
  }
  if (S_ISREG(st.st_mode)) {
    const char *base = strrchr(l->dir, '/') ? strrchr(l->dir, '/') + 1 : l->dir;
    if (!is_lua_name(base))
      return tk_err_set(err, TK_EIO, "plugin folder %s: not a folder or a .lua file",
                        l->dir);
    ls->single[i] = 1;
    return note(ls, base, i, err);
  }
  if (!S_ISDIR(st.st_mode))
    return tk_err_set(err, TK_EIO, "plugin folder %s: not a folder", l->dir);
  DIR *d = opendir(l->dir);
  if (!d) return tk_err_set(err, TK_EIO, "plugin folder %s: %s", l->dir, strerror(errno));
  struct dirent *de;
  int rc = 0;
  while (!rc && (de = readdir(d))) {
    char p[4096];
    if (!is_lua_name(de->d_name)) continue;
    int n = snprintf(p, sizeof p, "%s/%s", l->dir, de->d_name);
    if (n > 0 && (size_t)n < sizeof p && stat(p, &st) == 0 && !S_ISREG(st.st_mode))
      continue; /* a folder named x.lua is no plugin */
    rc = note(ls, de->d_name, i, err);
  }
  closedir(d);
  return rc;
}

static int cmp_entry(const void *a, const void *b)
{
  return strcmp(((const entry_t *)a)->name, ((const entry_t *)b)->name);
}

/* The highest layer below `below` holding e, or -1. */
static int lower_layer(const entry_t *e, int below)
{
  for (int i = below - 1; i >= 0; i--)
    if (e->mask & (1u << i)) return i;
  return -1;
}

/* Records where the plugin just added to s came from. */
static void set_origin(tk_plugin_set_t *s, const char *layer, const char *path,
                       const char *overrides, int kept)
{
  plugin_t *p = s->plugins[s->nplugins - 1];
  p->layer = strdup(layer ? layer : "");
  p->path = path ? strdup(path) : NULL;
  p->overrides = overrides ? strdup(overrides) : NULL;
  p->kept = kept;
}

/* In place of e's file of layer top, which failed with why: prev's
 * version, else a lower layer's. Keeps the message saying which. */
static int replace_failed(tk_plugin_set_t *s, const tk_plugin_layer_t *l,
                          const listing_t *ls, const entry_t *e, int top,
                          const tk_plugin_set_t *prev, const char *why)
{
  char msg[sizeof(((tk_err_t *)0)->msg) + 4200], path[4096];
  tk_err_t e2;
  plugin_t *old = prev ? tk__plugin_set_plugin(prev, e->name) : NULL;
  snprintf(msg, sizeof msg, "%s", why);
  if (old && old->src &&
      tk_plugin_set_add_source(s, e->name, old->src, old->srcn, &e2) == 0) {
    set_origin(s, old->layer, old->path, old->overrides, TK_PLUGIN_KEPT);
    snprintf(msg, sizeof msg, "%s; keeping the previous version (%s %s)", why,
             old->layer && old->layer[0] ? old->layer : "loaded",
             old->path ? old->path : e->name);
  } else {
    for (int i = lower_layer(e, top); i >= 0; i = lower_layer(e, i)) {
      if (path_of(l, ls, (size_t)i, e->name, path, sizeof path) != 0) continue;
      if (tk_plugin_set_add_file(s, path, &e2) != 0) continue;
      set_origin(s, l[i].name, path, NULL, TK_PLUGIN_FALLBACK);
      snprintf(msg, sizeof msg, "%s; using the one from %s %s", why, l[i].name, path);
      break;
    }
  }
  TK_LOG(TK_LOG_WARN, "plugin", "plugin not loaded: %s", msg);
  return tk__plugin_set_keep_error(s, msg);
}

int tk_plugin_set_load_layers(tk_plugin_set_t *s, const tk_plugin_layer_t *l, size_t n,
                              const tk_plugin_set_t *prev, tk_err_t *err)
{
  listing_t ls;
  int rc = 0;
  memset(&ls, 0, sizeof ls);
  if (!s || (!l && n)) return tk_err_set(err, TK_EINVAL, "plugins: bad arguments");
  if (n > TK_PLUGIN_MAX_LAYERS)
    return tk_err_set(err, TK_ELIMIT, "more than %d plugin folders",
                      TK_PLUGIN_MAX_LAYERS);
  if (!(ls.v = calloc(TK_PLUGIN_MAX_FILES, sizeof *ls.v)))
    return tk_err_set(err, TK_ENOMEM, "out of memory");
  for (size_t i = 0; !rc && i < n; i++)
    rc = list_layer(&ls, &l[i], i, err);
  if (rc) goto done;
  qsort(ls.v, ls.n, sizeof *ls.v, cmp_entry);
  for (size_t k = 0; k < ls.n; k++) {
    const entry_t *e = &ls.v[k];
    int top = lower_layer(e, (int)n), below = lower_layer(e, top);
    char path[4096];
    tk_err_t e1;
    tk_err_clear(&e1);
    if (path_of(l, &ls, (size_t)top, e->name, path, sizeof path) != 0)
      tk_err_set(&e1, TK_ELIMIT, "plugin %s: path too long", e->name);
    else if (tk_plugin_set_add_file(s, path, &e1) == 0) {
      set_origin(s, l[top].name, path, below >= 0 ? l[below].name : NULL,
                 TK_PLUGIN_FRESH);
      continue;
    }
    if (replace_failed(s, l, &ls, e, top, prev, e1.msg) < 0) {
      rc = tk_err_set(err, TK_ENOMEM, "out of memory");
      break;
    }
  }
done:
  for (size_t i = 0; i < ls.n; i++)
    free(ls.v[i].name);
  free(ls.v);
  return rc;
}

int tk_plugin_set_origin(const tk_plugin_set_t *s, const char *plugin,
                         tk_plugin_origin_t *out)
{
  plugin_t *p = plugin ? tk__plugin_set_plugin(s, plugin) : NULL;
  memset(out, 0, sizeof *out);
  if (!p) return TK_ENOTFOUND;
  out->layer = p->layer ? p->layer : "";
  out->path = p->path;
  out->overrides = p->overrides;
  out->kept = p->kept;
  return 0;
}

size_t tk_plugin_set_kept(const tk_plugin_set_t *s)
{
  size_t n = 0;
  for (size_t i = 0; s && i < s->nplugins; i++)
    n += s->plugins[i]->kept != TK_PLUGIN_FRESH;
  return n;
}
