/*
 * office_settings.c: the few settings a person changes (tk_office.h), kept
 * in the store's meta table under "setting:<key>": a fixed allow-list, each
 * value checked before it is written. One thread at a time, as tk_office_t.
 */
#include "office_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALLOWED "organisation, ui_idle_minutes, ui_language"

typedef struct setting {
  const char *key, *fallback;
  int (*check)(const char *v, tk_err_t *err);
} setting_t;

static int check_organisation(const char *v, tk_err_t *err)
{
  size_t n = strlen(v);
  if (n < 1 || n > TK_OFFICE_ORGANISATION_MAX)
    return tk_err_set(err, TK_EINVAL,
                      "setting organisation must be 1 to %d bytes, got %zu",
                      TK_OFFICE_ORGANISATION_MAX, n);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)v[i];
    if (c < 0x20 || c == 0x7f)
      return tk_err_set(err, TK_EINVAL,
                        "setting organisation has a control character at byte %zu",
                        i + 1);
  }
  json_t *j = json_stringn(v, n); /* jansson refuses invalid UTF-8 */
  if (!j) return tk_err_set(err, TK_EINVAL, "setting organisation is not valid UTF-8");
  json_decref(j);
  return 0;
}

static int check_idle(const char *v, tk_err_t *err)
{
  char *end = NULL;
  long m = v[0] >= '0' && v[0] <= '9' ? strtol(v, &end, 10) : -1;
  if (!end || *end || m < TK_OFFICE_IDLE_MIN || m > TK_OFFICE_IDLE_MAX || strlen(v) > 3)
    return tk_err_set(err, TK_EINVAL,
                      "setting ui_idle_minutes must be a whole number of minutes from %d "
                      "to %d, got '%.40s'",
                      TK_OFFICE_IDLE_MIN, TK_OFFICE_IDLE_MAX, v);
  return 0;
}

static int check_language(const char *v, tk_err_t *err)
{
  if (strcmp(v, "en") == 0 || strcmp(v, "ru") == 0 || strcmp(v, "ky") == 0) return 0;
  return tk_err_set(err, TK_EINVAL,
                    "setting ui_language must be one of: en, ru, ky; got '%.40s'", v);
}

static const setting_t settings[] = {
    {"organisation", "", check_organisation},
    {"ui_idle_minutes", "15", check_idle},
    {"ui_language", "en", check_language},
};

static const setting_t *find(const char *key)
{
  for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
    if (strcmp(settings[i].key, key) == 0) return &settings[i];
  return NULL;
}

static int unknown(const char *key, tk_err_t *err)
{
  return tk_err_set(err, TK_EINVAL, "no setting '%.64s'; the settings are: " ALLOWED,
                    key);
}

const char *tk_office_setting_name(size_t i)
{
  return i < sizeof settings / sizeof settings[0] ? settings[i].key : NULL;
}

int tk_office_setting_get(tk_office_t *o, const char *key, char *out, size_t cap)
{
  const setting_t *s = find(key);
  char v[TK_OFFICE_SETTING_MAX + 1], mk[64];
  if (!s) return TK_EINVAL;
  snprintf(mk, sizeof mk, "setting:%s", key);
  /* a value that does not pass its check (written by hand) counts as unset */
  if (tk_store_meta_get(o->store, mk, v, sizeof v, NULL) != 0 || s->check(v, NULL) != 0)
    snprintf(v, sizeof v, "%s", s->fallback);
  if (strlen(v) >= cap) return TK_ELIMIT;
  memcpy(out, v, strlen(v) + 1);
  return 0;
}

int tk_office_setting_set(tk_office_t *o, const char *key, const char *value,
                          tk_err_t *err)
{
  const setting_t *s = find(key);
  char mk[64];
  if (!s) return unknown(key, err);
  int rc = s->check(value, err);
  if (rc) return rc;
  snprintf(mk, sizeof mk, "setting:%s", key);
  return tk_store_meta_set(o->store, mk, value, err);
}
