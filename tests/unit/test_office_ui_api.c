/*
 * test_office_ui_api.c: the office calls the web UI's screens read, on a
 * real office (real sqlite file, the bundled plugins): the settings'
 * allow-list and checks, the merge preview (what resolve --auto would
 * write, nothing written; a declined merge with its reason), the devices
 * an office knows and the members of a vault with their keys.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "office_internal.h"
#include "tk_body.h"
#include "tk_peer_identity.h"
#include "tk_office.h"
#include "tk_test.h"

#define PASS "correct horse"

static void office(const char *name, tk_office_t **out)
{
  char home[2048];
  tk_office_t *o = NULL;
  tk_err_t e;
  *out = NULL;
  CHECK_RC(tk_office_global_init(), 0);
  snprintf(home, sizeof home, "%s/%s", tk_test_tmpdir(), name);
  CHECK_RC(
      tk_office_create(home, name, PASS, strlen(PASS), TK_OFFICE_KDF_INTERACTIVE, &e), 0);
  CHECK_RC(tk_office_open(&o, home, &e), 0);
  CHECK_RC(tk_office_unlock(o, PASS, strlen(PASS), &e), 0);
  CHECK_RC(tk_office_vault_create(o, "cases", &e), 0);
  *out = o;
}

static void test_settings(void)
{
  tk_office_t *o = NULL;
  office("settings", &o);
  if (!o) return;
  char v[256];
  tk_err_t e;
  /* defaults */
  CHECK_RC(tk_office_setting_get(o, "organisation", v, sizeof v), 0);
  CHECK(strcmp(v, "") == 0);
  CHECK_RC(tk_office_setting_get(o, "ui_idle_minutes", v, sizeof v), 0);
  CHECK(strcmp(v, "15") == 0);
  CHECK_RC(tk_office_setting_get(o, "ui_language", v, sizeof v), 0);
  CHECK(strcmp(v, "en") == 0);
  /* set, and kept in the store (another open sees them), locked or not */
  CHECK_RC(tk_office_lock(o), 0);
  CHECK_RC(tk_office_setting_set(o, "organisation", "Адилет — правовая клиника", &e), 0);
  CHECK_RC(tk_office_setting_set(o, "ui_idle_minutes", "480", &e), 0);
  CHECK_RC(tk_office_setting_set(o, "ui_language", "ky", &e), 0);
  char home[PATH_MAX];
  memcpy(home, o->home, sizeof home);
  tk_office_close(o);
  CHECK_RC(tk_office_open(&o, home, &e), 0);
  CHECK_RC(tk_office_setting_get(o, "organisation", v, sizeof v), 0);
  CHECK(strcmp(v, "Адилет — правовая клиника") == 0);
  CHECK_RC(tk_office_setting_get(o, "ui_idle_minutes", v, sizeof v), 0);
  CHECK(strcmp(v, "480") == 0);
  CHECK_RC(tk_office_setting_get(o, "ui_language", v, sizeof v), 0);
  CHECK(strcmp(v, "ky") == 0);
  CHECK_RC(tk_office_setting_get(o, "ui_language", v, 2), TK_ELIMIT);
  /* refused, naming the key or what is wrong; nothing changed */
  CHECK_RC(tk_office_setting_set(o, "colour", "red", &e), TK_EINVAL);
  CHECK(strstr(e.msg, "no setting 'colour'") &&
        strstr(e.msg, "organisation, ui_idle_minutes, ui_language"));
  CHECK_RC(tk_office_setting_get(o, "colour", v, sizeof v), TK_EINVAL);
  static const char *const bad_idle[] = {"0", "481", "-5", "15m", "", "+3", "0015"};
  for (size_t i = 0; i < sizeof bad_idle / sizeof bad_idle[0]; i++) {
    CHECK_RC(tk_office_setting_set(o, "ui_idle_minutes", bad_idle[i], &e), TK_EINVAL);
    CHECK(strstr(e.msg, "ui_idle_minutes") && strstr(e.msg, "1 to 480"));
  }
  CHECK_RC(tk_office_setting_set(o, "ui_idle_minutes", "1", &e), 0);
  CHECK_RC(tk_office_setting_set(o, "ui_language", "de", &e), TK_EINVAL);
  CHECK(strstr(e.msg, "en, ru, ky") != NULL);
  CHECK_RC(tk_office_setting_set(o, "organisation", "", &e), TK_EINVAL);
  CHECK_RC(tk_office_setting_set(o, "organisation", "a\nb", &e), TK_EINVAL);
  CHECK(strstr(e.msg, "control character at byte 2") != NULL);
  CHECK_RC(tk_office_setting_set(o, "organisation", "bad \xff utf-8", &e), TK_EINVAL);
  char big[202];
  memset(big, 'x', 201);
  big[201] = 0;
  CHECK_RC(tk_office_setting_set(o, "organisation", big, &e), TK_EINVAL);
  big[200] = 0;
  CHECK_RC(tk_office_setting_set(o, "organisation", big, &e), 0);
  CHECK_RC(tk_office_setting_get(o, "organisation", v, sizeof v), 0);
  CHECK(strlen(v) == 200);
  CHECK_RC(tk_office_setting_get(o, "ui_language", v, sizeof v), 0);
  CHECK(strcmp(v, "ky") == 0);
  CHECK(strcmp(tk_office_setting_name(0), "organisation") == 0);
  CHECK(tk_office_setting_name(3) == NULL);
  tk_office_close(o);
}

/* A second head over the record's first revision: body sealed by this
 * device as if written offline elsewhere (a fork, as two offices make). */
static void fork_head(tk_office_t *o, const char *rec_hex,
                      const uint8_t first[TK_REV_ID_LEN], const json_t *body)
{
  uint8_t rec[TK_RECORD_ID_LEN], key[TK_VAULT_KEY_LEN];
  tk_buf_t plain = TK_BUF_INIT, enc = TK_BUF_INIT;
  tk_rev_draft_t d;
  tk_rev_t rev;
  tk_err_t e;
  CHECK_RC(tk_office_record_find(o, rec_hex, rec, &e), 0);
  CHECK_RC(tk_office_vault_key(o, "cases", NULL, key, &e), 0);
  CHECK_RC(tk_body_dump(body, &plain), 0);
  memset(&d, 0, sizeof d);
  memcpy(d.record_id, rec, sizeof rec);
  d.type = "case";
  d.vault = "cases";
  d.generation = 2;
  d.parents = first;
  d.nparents = 1;
  d.body = TK_SLICE(plain.p, plain.n);
  CHECK_RC(tk_store_hlc_next(tk_office_store(o), &d.hlc, &e), 0);
  CHECK_RC(tk_rev_seal(&enc, &d, key, o->id->sec->sign_sk, &e), 0);
  CHECK_RC(tk_rev_parse(&rev, TK_SLICE(enc.p, enc.n), &e), 0);
  CHECK_RC(tk_store_put_rev(tk_office_store(o), &rev, NULL, &e), 0);
  tk_buf_wipe(&plain);
  tk_buf_free(&enc);
}

static json_t *case_body(const char *status, const char *court, const char *notes)
{
  json_t *b = json_pack("{s:s,s:s,s:s,s:s}", "case_number", "K-7", "client_alias", "C-7",
                        "status", status, "court", court);
  if (notes) json_object_set_new(b, "notes", json_string(notes));
  return b;
}

static uint64_t last_seq(tk_office_t *o)
{
  uint64_t s = 0;
  tk_store_last_seq(tk_office_store(o), &s, NULL);
  return s;
}

static void test_merge_preview(void)
{
  tk_office_t *o = NULL;
  office("merge", &o);
  if (!o) return;
  char rec[2 * TK_RECORD_ID_LEN + 1], rev[2 * TK_REV_ID_LEN + 1], why[300];
  uint8_t first[TK_REV_ID_LEN];
  uint32_t nheads = 0;
  json_t *merged = NULL;
  tk_err_t e;
  json_t *base = case_body("open", "Osh city court", NULL);
  CHECK_RC(tk_office_record_new_rev(o, "case", "cases", base, NULL, rec, rev, &e), 0);
  CHECK_RC(tk_hex_decode(first, TK_REV_ID_LEN, rev), 0);
  /* not in conflict yet */
  CHECK_RC(tk_office_merge_preview(o, rec, &merged, why, sizeof why, &e), TK_EINVAL);
  CHECK(strstr(e.msg, "not in conflict") != NULL);
  /* a file on the record: the preview shows no key of it */
  char path[2300];
  snprintf(path, sizeof path, "%s/note.txt", tk_test_tmpdir());
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  fputs("a note\n", f);
  fclose(f);
  CHECK_RC(tk_office_record_attach(o, rec, path, NULL, rev, &e), 0);
  /* here the status changes, over there the court: different fields */
  json_t *ours = case_body("in_court", "Osh city court", NULL);
  CHECK_RC(tk_office_record_edit(o, rec, ours, NULL, rev, &nheads, &e), 0);
  json_t *theirs = case_body("open", "Osh regional court", NULL);
  fork_head(o, rec, first, theirs);
  uint64_t seq = last_seq(o);
  CHECK_RC(tk_office_merge_preview(o, rec, &merged, why, sizeof why, &e), 0);
  CHECK(merged != NULL && why[0] == 0);
  CHECK(strcmp(json_string_value(json_object_get(merged, "status")), "in_court") == 0);
  CHECK(strcmp(json_string_value(json_object_get(merged, "court")),
               "Osh regional court") == 0);
  CHECK(json_object_get(merged, "_attachments") == NULL);
  json_decref(merged);
  /* nothing written: still two heads, the same feed */
  CHECK(last_seq(o) == seq);
  tk_office_view_t v;
  CHECK_RC(tk_office_record_show(o, rec, NULL, &v, &e), 0);
  CHECK(v.nheads == 2);
  tk_office_view_free(&v);
  /* resolve --auto writes what the preview showed */
  CHECK_RC(tk_office_record_resolve(o, rec, NULL, NULL, rev, &e), 0);
  CHECK_RC(tk_office_record_show(o, rec, NULL, &v, &e), 0);
  CHECK(v.nheads == 1);
  CHECK(strcmp(json_string_value(json_object_get(v.body, "court")),
               "Osh regional court") == 0);
  CHECK(json_array_size(v.attachments) == 1);
  tk_office_view_free(&v);
  /* the same field on both sides: case.lua declines, with its reason */
  char rec2[2 * TK_RECORD_ID_LEN + 1];
  json_t *b2 = case_body("open", "c", NULL);
  CHECK_RC(tk_office_record_new_rev(o, "case", "cases", b2, NULL, rec2, rev, &e), 0);
  CHECK_RC(tk_hex_decode(first, TK_REV_ID_LEN, rev), 0);
  json_t *n1 = case_body("open", "c", "notes by a"), *n2 = case_body("open", "c", "by b");
  CHECK_RC(tk_office_record_edit(o, rec2, n1, NULL, rev, &nheads, &e), 0);
  fork_head(o, rec2, first, n2);
  seq = last_seq(o);
  CHECK_RC(tk_office_merge_preview(o, rec2, &merged, why, sizeof why, &e), 0);
  CHECK(merged == NULL);
  CHECK(strstr(why, "notes") != NULL);
  CHECK(last_seq(o) == seq);
  /* locked, no callback: refused */
  CHECK_RC(tk_office_lock(o), 0);
  CHECK_RC(tk_office_merge_preview(o, rec2, &merged, why, sizeof why, &e), TK_EPASS);
  json_decref(base);
  json_decref(ours);
  json_decref(theirs);
  json_decref(b2);
  json_decref(n1);
  json_decref(n2);
  tk_office_close(o);
}

static const json_t *find_by(const json_t *arr, const char *k, const char *v)
{
  size_t i;
  json_t *e;
  json_array_foreach(arr, i, e)
  {
    const char *s = json_string_value(json_object_get(e, k));
    if (s && strcmp(s, v) == 0) return e;
  }
  return NULL;
}

static void test_devices_members(void)
{
  tk_office_t *o = NULL, *b = NULL;
  office("devices", &o);
  office("colleague", &b);
  if (!o || !b) return;
  char me[TK_DEVICE_ID_STRLEN], other[TK_DEVICE_ID_STRLEN];
  json_t *devs = NULL, *vaults = NULL;
  tk_err_t e;
  tk_office_device_id(o, me);
  tk_office_device_id(b, other);
  /* a fresh office: itself, a writer of its vault */
  CHECK_RC(tk_office_devices(o, &devs, &e), 0);
  CHECK(json_array_size(devs) == 1);
  const json_t *self = json_array_get(devs, 0);
  CHECK(strcmp(json_string_value(json_object_get(self, "device")), me) == 0);
  CHECK(strcmp(json_string_value(json_object_get(self, "name")), "devices") == 0);
  CHECK(json_is_true(json_object_get(self, "self")));
  const json_t *sv = find_by(json_object_get(self, "vaults"), "vault", "cases");
  CHECK(sv && strcmp(json_string_value(json_object_get(sv, "role")), "writer") == 0);
  json_decref(devs);
  /* the colleague added to the log as a reader (the change a grant makes,
   * committed as the hub's acknowledgement would) */
  tk_peer_t peer;
  memset(&peer, 0, sizeof peer);
  memcpy(peer.id, b->id->id, TK_DEVICE_ID_LEN);
  memcpy(peer.sign_pk, b->id->sign_pk, TK_SIGN_PK_LEN);
  memcpy(peer.kx_pk, b->id->kx_pk, TK_KX_PK_LEN);
  tk_member_change_t ch;
  CHECK_RC(tk_office_change_add(o, "cases", &peer, 0, &ch, &e), 0);
  CHECK_RC(tk_office_change_commit(o, &ch, &e), 0);
  tk_member_change_free(&ch);
  CHECK_RC(tk_office_devices(o, &devs, &e), 0);
  CHECK(json_array_size(devs) == 2);
  CHECK(json_is_true(json_object_get(json_array_get(devs, 0), "self")));
  const json_t *col = find_by(devs, "device", other);
  CHECK(col && !json_is_true(json_object_get(col, "self")));
  /* its name is not known here (no sync told it) */
  CHECK(strcmp(json_string_value(json_object_get(col, "name")), "") == 0);
  sv = find_by(json_object_get(col, "vaults"), "vault", "cases");
  CHECK(sv && strcmp(json_string_value(json_object_get(sv, "role")), "reader") == 0);
  json_decref(devs);
  /* the vault's members: both, the colleague given the one key there is */
  CHECK_RC(tk_office_vaults(o, &vaults, &e), 0);
  const json_t *v = find_by(vaults, "name", "cases");
  CHECK(v != NULL);
  char key[128];
  snprintf(key, sizeof key, "%s", json_string_value(json_object_get(v, "key_id")));
  const json_t *members = json_object_get(v, "members");
  CHECK(json_array_size(members) == 2);
  const json_t *m1 = find_by(members, "device", me),
               *m2 = find_by(members, "device", other);
  CHECK(m1 && m2);
  CHECK(strcmp(json_string_value(json_object_get(m1, "role")), "writer") == 0);
  CHECK(strcmp(json_string_value(json_object_get(m2, "role")), "reader") == 0);
  CHECK(json_array_size(json_object_get(m1, "keys")) == 1);
  CHECK(strcmp(json_string_value(json_array_get(json_object_get(m1, "keys"), 0)), key) ==
        0);
  CHECK(json_array_size(json_object_get(m2, "keys")) == 1);
  CHECK(strcmp(json_string_value(json_array_get(json_object_get(m2, "keys"), 0)), key) ==
        0);
  json_decref(vaults);
  /* removed: a new key the colleague is not given; it keeps the old one */
  CHECK_RC(tk_office_change_remove(
               o, "cases", (const uint8_t(*)[TK_DEVICE_ID_LEN])b->id->id, 1, &ch, &e),
           0);
  CHECK_RC(tk_office_change_commit(o, &ch, &e), 0);
  tk_member_change_free(&ch);
  CHECK_RC(tk_office_vaults(o, &vaults, &e), 0);
  v = find_by(vaults, "name", "cases");
  const char *newkey = json_string_value(json_object_get(v, "key_id"));
  CHECK(strcmp(newkey, key) != 0);
  members = json_object_get(v, "members");
  m1 = find_by(members, "device", me);
  m2 = find_by(members, "device", other);
  CHECK(strcmp(json_string_value(json_object_get(m2, "role")), "removed") == 0);
  CHECK(json_array_size(json_object_get(m2, "keys")) == 1);
  CHECK(json_array_size(json_object_get(m1, "keys")) == 2);
  json_decref(vaults);
  tk_office_close(b);
  tk_office_close(o);
}

TK_TESTS(TK_TEST(test_settings), TK_TEST(test_merge_preview),
         TK_TEST(test_devices_members))
