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

static int print_vault(void *ctx, const tk_vault_info_t *v)
{
  vault_list_t *l = ctx;
  char kid[2 * TK_KEY_ID_LEN + 1];
  uint8_t sealed[TK_SEALED_KEY_LEN];
  tk_hex_encode(kid, v->key_id, TK_KEY_ID_LEN);
  int has_key =
      tk_store_wrapped_key_get(tk_office_store(l->c->office), v->name, v->key_id,
                               tk_office_identity(l->c->office)->id, sealed, NULL) == 0;
  char key[TK_MAX_VAULT_LEN + 16], by[TK_DEVICE_ID_STRLEN] = "";
  snprintf(key, sizeof key, "granted_by:%s", v->name);
  if (tk_store_meta_get(tk_office_store(l->c->office), key, by, sizeof by, NULL) != 0)
    by[0] = 0;
  if (l->arr)
    json_array_append_new(l->arr,
                          json_pack("{s:s,s:s,s:I,s:b,s:s?}", "name", v->name, "key_id",
                                    kid, "created", (json_int_t)v->created, "have_key",
                                    has_key, "granted_by", by[0] ? by : NULL));
  else
    printf("%-24s key %s%s%s%s\n", v->name, kid,
           has_key ? "" : "  (no key on this device)", by[0] ? "  granted by " : "", by);
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
    if (c->nargs != 3) return cli_usage("usage: tunduk vault grant VAULT DEVICE-ID");
    return cmd_vault_grant(c);
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
  return cli_usage("unknown vault command '%s' (create, list, grant)", sub);
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
