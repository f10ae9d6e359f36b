/*
 * cmd_store.c: the commands about the store and this device: init,
 * whoami, vault create/list, verify, passphrase.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

int cmd_init(cli_t *c)
{
  int level = TK_OFFICE_KDF_MODERATE;
  char host[64] = "office";
  const char *name = c->name;
  if (c->kdf && tk_office_kdf_parse(c->kdf, &level) != 0)
    return cli_usage("--kdf must be interactive, moderate or sensitive");
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
  tk_office_secret_free(pass);
  if (rc) return cli_fail(c, rc);
  rc = cli_open(c, 0);
  if (rc) return cli_fail(c, rc);
  char id[TK_DEVICE_ID_STRLEN];
  tk_office_device_id(c->office, id);
  printf("initialised %s\ndevice %s (%s)\n", c->home, id,
         tk_office_device_name(c->office));
  return EXIT_OK;
}

/* passphrase: the old one through the unlock callback (checked before the
 * new one is asked), the new one from --new-passphrase-file or the
 * terminal; the office writes the key file atomically. */
int cmd_passphrase(cli_t *c)
{
  int level = -1;
  if (c->kdf && tk_office_kdf_parse(c->kdf, &level) != 0)
    return cli_usage("--kdf must be interactive, moderate or sensitive");
  char *pass = NULL;
  size_t len = 0;
  int rc = cli_open(c, 1);
  if (!rc)
    rc = tk_office_passphrase_new(c->new_pass_file, "--new-passphrase-file", c->home,
                                  &pass, &len, &c->err);
  if (!rc) rc = tk_office_passphrase_change(c->office, pass, len, level, &c->err);
  tk_office_secret_free(pass);
  if (rc) return cli_fail(c, rc);
  printf("passphrase changed: %s/device.key opens with the new one only\n", c->home);
  return EXIT_OK;
}

int cmd_whoami(cli_t *c)
{
  int rc = cli_open(c, 0);
  if (rc) return cli_fail(c, rc);
  char s[TK_DEVICE_ID_STRLEN];
  tk_office_device_id(c->office, s);
  if (c->json) {
    json_t *j = json_pack("{s:s,s:s,s:s}", "device", s, "name",
                          tk_office_device_name(c->office), "home", c->home);
    cli_print_json(j);
    json_decref(j);
  } else {
    printf("%s\n", s);
  }
  return EXIT_OK;
}

/* The chain behind a key as text: "ID (NAME), added by ID (NAME), ..., the
 * vault's creator" (at most 1023 bytes, as it always was). */
static void chain_text(const json_t *chain, char *out, size_t len)
{
  size_t i;
  json_t *m;
  out[0] = 0;
  json_array_foreach(chain, i, m)
  {
    const char *name = json_string_value(json_object_get(m, "name"));
    size_t k = strlen(out);
    snprintf(out + k, len - k, "%s%s%s%s%s%s", i ? ", added by " : "",
             json_string_value(json_object_get(m, "device")), name[0] ? " (" : "", name,
             name[0] ? ")" : "",
             json_is_true(json_object_get(m, "creator")) ? ", the vault's creator" : "");
  }
}

static void print_vault(const json_t *v)
{
  char chain[1024];
  size_t i;
  json_t *k;
  int has_key = json_is_true(json_object_get(v, "have_key"));
  printf("%-20s id %s  key %s  %s%s\n", json_string_value(json_object_get(v, "name")),
         json_string_value(json_object_get(v, "vault_id")),
         json_string_value(json_object_get(v, "key_id")),
         json_string_value(json_object_get(v, "role")),
         has_key ? "" : "  (no key on this device)");
  if (json_integer_value(json_object_get(v, "log_entries")) == 0)
    printf("  no membership log yet\n");
  chain_text(json_object_get(v, "granted_by"), chain, sizeof chain);
  if (chain[0]) printf("  key from %s\n", chain);
  json_array_foreach(json_object_get(v, "keys"), i, k)
  {
    if (json_is_true(json_object_get(k, "current"))) continue;
    chain_text(json_object_get(k, "granted_by"), chain, sizeof chain);
    printf("  older key %s from %s\n", json_string_value(json_object_get(k, "key_id")),
           chain);
  }
}

int cmd_vault(cli_t *c)
{
  const char *sub = c->args[0];
  int rc;
  if (strcmp(sub, "create") == 0) {
    if (c->nargs != 2) return cli_usage("usage: tunduk vault create NAME");
    if (c->json) return cli_usage("'vault create' does not take --json");
    rc = tk_office_name_check("vault", c->args[1], &c->err);
    if (!rc) rc = cli_open(c, 1);
    if (!rc) rc = tk_office_vault_create(c->office, c->args[1], &c->err);
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
    json_t *list = NULL, *v;
    size_t i;
    rc = cli_open(c, 0);
    if (!rc) rc = tk_office_vaults(c->office, &list, &c->err);
    if (rc) return cli_fail(c, rc);
    if (c->json) cli_print_json(list);
    json_array_foreach(list, i, v) if (!c->json) print_vault(v);
    json_decref(list);
    return EXIT_OK;
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
