/*
 * cmd_store.c: the commands about the store and this device: init,
 * whoami, vault create/list, verify.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

int cmd_init(cli_t *c)
{
  tk_kdf_level_t level = TK_KDF_MODERATE;
  char host[64] = "office";
  const char *name = c->name;
  if (c->kdf) {
    if (strcmp(c->kdf, "interactive") == 0)
      level = TK_KDF_INTERACTIVE;
    else if (strcmp(c->kdf, "moderate") == 0)
      level = TK_KDF_MODERATE;
    else if (strcmp(c->kdf, "sensitive") == 0)
      level = TK_KDF_SENSITIVE;
    else
      return cli_usage("--kdf must be interactive, moderate or sensitive");
  }
  if (!name) {
    if (gethostname(host, sizeof host - 1) == 0) {
      host[sizeof host - 1] = '\0';
      for (char *p = host; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.'))
          *p = '-';
    }
    name = host[0] ? host : "office";
  }
  char *pass = NULL;
  size_t len = 0;
  int rc = cli_passphrase(c, 1, &pass, &len);
  if (!rc) rc = tk_office_create(c->home, name, pass, len, level, &c->err);
  tk_secure_free(pass);
  if (rc) return cli_fail(c, rc);
  rc = cli_open(c, 0);
  if (rc) return cli_fail(c, rc);
  char id[TK_DEVICE_ID_STRLEN];
  tk_device_id_format(id, tk_office_identity(c->office)->id);
  printf("initialised %s\ndevice %s (%s)\n", c->home, id,
         tk_office_identity(c->office)->name);
  return EXIT_OK;
}

int cmd_whoami(cli_t *c)
{
  int rc = cli_open(c, 0);
  if (rc) return cli_fail(c, rc);
  const tk_identity_t *id = tk_office_identity(c->office);
  char s[TK_DEVICE_ID_STRLEN];
  tk_device_id_format(s, id->id);
  if (c->json) {
    json_t *j =
        json_pack("{s:s,s:s,s:s}", "device", s, "name", id->name, "home", c->home);
    cli_print_json(j);
    json_decref(j);
  } else {
    printf("%s\n", s);
  }
  return EXIT_OK;
}

typedef struct vault_list {
  cli_t *c;
  json_t *arr; /* with --json */
} vault_list_t;

static void short_id(char *out, size_t len, const uint8_t *id, size_t n)
{
  char hex[2 * TK_HASH_LEN + 1];
  tk_hex_encode(hex, id, n);
  snprintf(out, len, "%.16s", hex);
}

/* The verified chain behind the key in use: who granted it, who made that
 * device a writer, and so on back to the vault's creator (its genesis). */
static void key_chain(cli_t *c, const tk_member_log_t *l, const char *vault,
                      const uint8_t key_id[TK_KEY_ID_LEN], char *out, size_t len,
                      json_t *arr)
{
  tk_buf_t body = TK_BUF_INIT, sig = TK_BUF_INIT;
  tk_grant_t g;
  const tk_identity_t *me = tk_office_identity(c->office);
  const uint8_t *from = me->id;
  out[0] = 0;
  if (tk_store_grant_get(tk_office_store(c->office), me->id, vault, key_id, &body, &sig,
                         NULL) == 0 &&
      tk_grant_verify(TK_SLICE(body.p, body.n), TK_SLICE(sig.p, sig.n), &g, NULL) == 0)
    from = g.granter;
  tk_buf_free(&body);
  tk_buf_free(&sig);
  const tk_member_t *m = tk_member_find(l, from);
  for (int hops = 0; m && hops < 64; hops++) {
    char id[TK_DEVICE_ID_STRLEN], name[80] = "";
    tk_device_info_t d;
    tk_device_id_format(id, m->id);
    if (tk_store_device_get(tk_office_store(c->office), m->id, &d, NULL) == 0 &&
        d.name[0])
      snprintf(name, sizeof name, " (%s)", d.name);
    size_t k = strlen(out);
    const tk_member_t *by = &l->members[m->added_by];
    int genesis = by == m;
    snprintf(out + k, len - k, "%s%s%s%s", hops ? ", added by " : "", id, name,
             genesis ? ", the vault's creator" : "");
    if (arr)
      json_array_append_new(arr, json_pack("{s:s,s:s,s:b}", "device", id, "name",
                                           name[0] ? name + 2 : "", "creator", genesis));
    if (genesis) break;
    m = by;
  }
}

static int print_vault(void *ctx, const tk_vault_info_t *v)
{
  vault_list_t *l = ctx;
  char kid[2 * TK_KEY_ID_LEN + 1], vid[20] = "-", chain[1024] = "", role[16] = "-";
  uint8_t sealed[TK_SEALED_KEY_LEN];
  const tk_member_log_t *log = NULL;
  tk_hex_encode(kid, v->key_id, TK_KEY_ID_LEN);
  int has_key =
      tk_store_wrapped_key_get(tk_office_store(l->c->office), v->name, v->key_id,
                               tk_office_identity(l->c->office)->id, sealed, NULL) == 0;
  json_t *carr = l->arr ? json_array() : NULL;
  if (tk_office_log(l->c->office, v->name, &log, NULL) == 0 && log->n > 0) {
    const tk_member_t *me = tk_member_find(log, tk_office_identity(l->c->office)->id);
    short_id(vid, sizeof vid, log->vault_id, TK_HASH_LEN);
    snprintf(role, sizeof role, "%s",
             !me || !me->active ? "not a member"
             : me->writer       ? "writer"
                                : "reader");
    if (has_key) key_chain(l->c, log, v->name, v->key_id, chain, sizeof chain, carr);
  } else {
    log = NULL;
  }
  /* every key of the vault this device holds, each with its own chain */
  json_t *keys = json_array();
  tk_buf_t older = TK_BUF_INIT; /* text: one line per older key held */
  for (size_t i = 0; log && i < log->n; i++) {
    const tk_entry_t *en = &log->entries[i];
    char k[2 * TK_KEY_ID_LEN + 1], ch[1024];
    if ((en->op != TK_ENTRY_GENESIS && en->op != TK_ENTRY_ROTATE) ||
        tk_store_wrapped_key_get(tk_office_store(l->c->office), v->name, en->key_id,
                                 tk_office_identity(l->c->office)->id, sealed, NULL) != 0)
      continue;
    json_t *karr = json_array();
    key_chain(l->c, log, v->name, en->key_id, ch, sizeof ch, karr);
    tk_hex_encode(k, en->key_id, TK_KEY_ID_LEN);
    int current = memcmp(en->key_id, v->key_id, TK_KEY_ID_LEN) == 0;
    json_array_append_new(keys, json_pack("{s:s,s:b,s:I,s:o}", "key_id", k, "current",
                                          current, "since_entry", (json_int_t)en->seq,
                                          "granted_by", karr));
    if (!current) tk_buf_printf(&older, "  older key %s from %s\n", k, ch);
  }
  if (l->arr) {
    json_array_append_new(l->arr,
                          json_pack("{s:s,s:s,s:s,s:I,s:b,s:s,s:I,s:o,s:o}", "name",
                                    v->name, "vault_id", vid, "key_id", kid, "created",
                                    (json_int_t)v->created, "have_key", has_key, "role",
                                    role, "log_entries", (json_int_t)(log ? log->n : 0),
                                    "granted_by", carr, "keys", keys));
  } else {
    json_decref(keys);
    printf("%-20s id %s  key %s  %s%s\n", v->name, vid, kid, role,
           has_key ? "" : "  (no key on this device)");
    if (!log) printf("  no membership log yet\n");
    if (chain[0]) printf("  key from %s\n", chain);
    if (older.n) fputs((const char *)older.p, stdout);
  }
  tk_buf_free(&older);
  return 0;
}

int cmd_vault(cli_t *c)
{
  const char *sub = c->args[0];
  int rc;
  if (strcmp(sub, "create") == 0) {
    if (c->nargs != 2) return cli_usage("usage: tunduk vault create NAME");
    if (c->json) return cli_usage("'vault create' does not take --json");
    rc = tk_name_check("vault", c->args[1], TK_MAX_VAULT_LEN, 1, &c->err);
    if (!rc) rc = cli_open(c, 1);
    if (!rc) rc = tk_office_vault_create(c->office, c->args[1], &c->err);
    if (rc == TK_EEXIST) tk_err_set(&c->err, rc, "vault '%s' already exists", c->args[1]);
    if (rc) return cli_fail(c, rc);
    printf("vault %s created\n", c->args[1]);
    return EXIT_OK;
  }
  if (strcmp(sub, "grant") == 0) {
    if (c->nargs != 3)
      return cli_usage("usage: tunduk vault grant VAULT DEVICE-ID [--read]");
    return cmd_vault_grant(c);
  }
  if (strcmp(sub, "remove") == 0) {
    if (c->nargs != 3) return cli_usage("usage: tunduk vault remove VAULT DEVICE-ID");
    return cmd_vault_remove(c);
  }
  if (strcmp(sub, "list") == 0) {
    if (c->nargs != 1) return cli_usage("usage: tunduk vault list");
    rc = cli_open(c, 0);
    if (rc) return cli_fail(c, rc);
    vault_list_t l = {c, c->json ? json_array() : NULL};
    rc = tk_store_vaults(tk_office_store(c->office), print_vault, &l, &c->err);
    if (l.arr) {
      if (!rc) cli_print_json(l.arr);
      json_decref(l.arr);
    }
    return rc ? cli_fail(c, rc) : EXIT_OK;
  }
  return cli_usage("unknown vault command '%s' (create, list, grant, remove)", sub);
}

static void print_failure(void *ctx, const uint8_t id[TK_REV_ID_LEN], const char *msg)
{
  (void)ctx;
  char hex[2 * TK_REV_ID_LEN + 1];
  tk_hex_encode(hex, id, TK_REV_ID_LEN);
  printf("FAIL %s: %s\n", hex, msg);
}

int cmd_verify(cli_t *c)
{
  tk_verify_counts_t n;
  int rc = cli_open(c, 1);
  if (rc) return cli_fail(c, rc);
  rc = tk_office_verify(c->office, print_failure, c, &n, &c->err);
  if (c->json) {
    json_t *j =
        json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "records", (json_int_t)n.records,
                  "revisions", (json_int_t)n.revisions, "ok", (json_int_t)n.ok, "failed",
                  (json_int_t)n.failed, "no_key", (json_int_t)n.no_key, "chunks",
                  (json_int_t)n.chunks, "bad_chunks", (json_int_t)n.bad_chunks);
    cli_print_json(j);
    json_decref(j);
  } else {
    printf("%llu records, %llu revisions: %llu verified, %llu failed, %llu not decrypted "
           "(no vault key); %llu attachment chunks, %llu damaged\n",
           (unsigned long long)n.records, (unsigned long long)n.revisions,
           (unsigned long long)n.ok, (unsigned long long)n.failed,
           (unsigned long long)n.no_key, (unsigned long long)n.chunks,
           (unsigned long long)n.bad_chunks);
  }
  return rc ? cli_fail(c, rc) : EXIT_OK;
}
