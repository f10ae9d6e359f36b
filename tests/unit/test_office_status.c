/*
 * test_office_status.c: nothing stranded in the office API (tk_office.h,
 * "nothing stranded"; office_status.c) on a real office in a temporary
 * folder: the write-time refusal in a vault the hub's access (as stored)
 * lets this device only read, with access texts that are damaged or only
 * look alike; a store enrolled nowhere is not restricted; tk_office_status
 * before enrollment and with an unsent entry; forgetting a hub.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tk_meta.h"
#include "tk_office.h"
#include "tk_office_engine.h"
#include "tk_store.h"
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

static json_t *case_body(void)
{
  return json_pack("{s:s,s:s,s:s}", "case_number", "U-1", "client_alias", "c", "status",
                   "open");
}

/* Pins o to a made-up hub with that access text. */
static void pin(tk_office_t *o, const char *access)
{
  char id[TK_DEVICE_ID_STRLEN];
  uint8_t hub[TK_DEVICE_ID_LEN];
  tk_err_t e;
  memset(hub, 0x42, sizeof hub);
  tk_device_id_format(id, hub);
  CHECK_RC(tk_store_meta_set(tk_office_store(o), TK_META_HUB_ID, id, &e), 0);
  CHECK_RC(tk_store_meta_set(tk_office_store(o), TK_META_HUB_ADDR, "127.0.0.1:1", &e), 0);
  CHECK_RC(tk_store_meta_set(tk_office_store(o), TK_META_HUB_ACCESS, access, &e), 0);
}

static void test_write_allowed(void)
{
  tk_office_t *o = NULL;
  office("readonly", &o);
  if (!o) return;
  tk_err_t e;
  char rec[2 * TK_RECORD_ID_LEN + 1];
  json_t *b = case_body();
  /* enrolled nowhere: not restricted */
  CHECK_RC(tk_office_write_allowed(o, "cases", &e), 0);
  CHECK_RC(tk_office_record_new(o, "case", "cases", b, NULL, rec, &e), 0);
  pin(o, "other:rw,cases:r");
  CHECK_RC(tk_office_write_allowed(o, "cases", &e), TK_EACCESS);
  CHECK(strstr(e.msg, "may only read vault 'cases'") != NULL);
  CHECK_RC(tk_office_write_allowed(o, "other", &e), 0);
  CHECK_RC(tk_office_write_allowed(o, "unlisted", &e), 0);
  /* new, edit, delete all refused, and nothing stored */
  CHECK_RC(tk_office_record_new(o, "case", "cases", b, NULL, rec, &e), TK_EACCESS);
  char rev[2 * TK_REV_ID_LEN + 1];
  CHECK_RC(tk_office_record_edit(o, rec, b, NULL, rev, NULL, &e), TK_EACCESS);
  uint64_t last = 0;
  CHECK_RC(tk_store_last_seq(tk_office_store(o), &last, &e), 0);
  CHECK(last == 1);
  /* access texts that only look alike, or are damaged, do not restrict */
  const char *other[] = {"cases",    "cases:",   ":r",       "casesX:r",   "xcases:r",
                         "cases:rw", "cases:rr", ",,cases,", &"cases:r"[5]};
  for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
    pin(o, other[i]);
    CHECK_RC(tk_office_write_allowed(o, "cases", &e), 0);
  }
  pin(o, "a:rw,,cases:r,");
  CHECK_RC(tk_office_write_allowed(o, "cases", &e), TK_EACCESS);
  json_decref(b);
  tk_office_close(o);
}

static json_t *vault_of(json_t *st, const char *name)
{
  size_t i;
  json_t *v;
  json_array_foreach(json_object_get(st, "vaults"), i, v)
  {
    if (!strcmp(json_string_value(json_object_get(v, "vault")), name)) return v;
  }
  return NULL;
}

static void test_status(void)
{
  tk_office_t *o = NULL;
  office("status", &o);
  if (!o) return;
  tk_err_t e;
  json_t *st = NULL, *b = case_body();
  char rec[2 * TK_RECORD_ID_LEN + 1];
  CHECK_RC(tk_office_record_new(o, "case", "cases", b, NULL, rec, &e), 0);
  CHECK_RC(tk_office_status(o, &st, &e), 0);
  CHECK(json_is_null(json_object_get(st, "hub")));
  CHECK(json_is_false(json_object_get(st, "all_at_hub")));
  json_t *v = vault_of(st, "cases");
  CHECK(v && json_integer_value(json_object_get(v, "revisions")) == 1 &&
        json_integer_value(json_object_get(v, "not_yet_sent")) == 1);
  json_decref(st);
  /* pinned, the revision refused by the hub: listed with the reason */
  pin(o, "cases:rw");
  uint8_t hub[TK_DEVICE_ID_LEN];
  memset(hub, 0x42, sizeof hub);
  tk_rev_meta_t m;
  uint8_t rid[TK_REV_ID_LEN];
  char hex[2 * TK_REV_ID_LEN + 1];
  CHECK_RC(tk_store_checkpoint_set(tk_office_store(o), hub, TK_DIR_PUSH, 1, &e), 0);
  tk_store_t *s = tk_office_store(o);
  uint64_t seq = 0;
  CHECK_RC(tk_store_last_seq(s, &seq, &e), 0);
  /* the one revision: the record's winner */
  uint8_t recid[TK_RECORD_ID_LEN];
  tk_record_info_t ri;
  CHECK_RC(tk_hex_decode(recid, TK_RECORD_ID_LEN, rec), 0);
  CHECK_RC(tk_store_record_info(s, recid, &ri, &e), 0);
  memcpy(rid, ri.winner, TK_REV_ID_LEN);
  tk_hex_encode(hex, rid, TK_REV_ID_LEN);
  CHECK_RC(tk_store_rev_meta(s, rid, &m, &e), 0);
  CHECK_RC(tk_store_unsent_put(s, hub, &m, TK_UNSENT_REFUSED, 9, "over a limit", 1, &e),
           0);
  CHECK_RC(tk_office_status(o, &st, &e), 0);
  CHECK(json_is_object(json_object_get(st, "hub")));
  CHECK(json_is_false(json_object_get(st, "all_at_hub")));
  v = vault_of(st, "cases");
  CHECK(v && json_integer_value(json_object_get(v, "not_yet_sent")) == 0 &&
        json_integer_value(json_object_get(v, "refused")) == 1);
  json_t *u = json_array_get(json_object_get(st, "unsent"), 0);
  CHECK(u && !strcmp(json_string_value(json_object_get(u, "revision")), hex) &&
        !strcmp(json_string_value(json_object_get(u, "state")), "refused") &&
        !strcmp(json_string_value(json_object_get(u, "reason")), "over a limit") &&
        json_string_value(json_object_get(u, "todo")));
  json_decref(st);
  /* forgetting the hub drops the entry and the checkpoints */
  CHECK_RC(tk_office_hub_forget(o, hub, &e), 0);
  uint64_t ck = 9;
  CHECK_RC(tk_store_checkpoint_get(s, hub, TK_DIR_PUSH, &ck, &e), 0);
  CHECK(ck == 0);
  CHECK_RC(tk_office_status(o, &st, &e), 0);
  CHECK(json_array_size(json_object_get(st, "unsent")) == 0);
  json_decref(st);
  json_decref(b);
  tk_office_close(o);
}

TK_TESTS(TK_TEST(test_write_allowed), TK_TEST(test_status))
