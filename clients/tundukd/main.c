/*
 * tundukd.c: the hub daemon's command line: init, serve, device add /
 * list / revoke, config. The hub's home folder has the same layout as an
 * office's (device.key, store.db) plus an optional tundukd.conf.
 */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "tk_meta.h"
#include "tk_config.h"
#include "tk_hub.h"
#include "tk_hub_admin.h"
#include "tk_hub_bundle.h"
#include "tk_office.h"
#include "tk_office_plugins.h"
#include "tk_passphrase.h"
#include "tk_token.h"
#include "tundukd.h"

#include "service.h"

static const char usage_head[] =
    "usage: tundukd [--home DIR] [--passphrase-file FILE] COMMAND [ARGS]\n"
    "       tundukd --version\n";
static const char usage_foot[] =
    "The home folder is --home DIR, else $TUNDUKD_HOME, else ~/.local/share/tundukd.\n"
    "The passphrase comes from --passphrase-file, else the systemd credential\n"
    "$CREDENTIALS_DIRECTORY/tundukd-passphrase, else $TUNDUKD_PASSPHRASE, else a "
    "prompt.\n"
    "The config file is --config FILE, else HOME/tundukd.conf when it exists;\n"
    "SIGHUP makes serve read it again (and the plugins); serve's pid is in\n"
    "HOME/tundukd.lock while it runs.\n";

/* Options (bit flags): which commands take which is commands[]'s. */
enum {
  O_NAME = 1 << 0,
  O_KDF = 1 << 1,
  O_LISTEN = 1 << 2,
  O_CONFIG = 1 << 3,
  O_LOG_LEVEL = 1 << 4,
  O_ADDRESS = 1 << 5,
  O_TTL = 1 << 6,
  O_VAULT = 1 << 7,
  O_JSON = 1 << 8,
  O_NEW_PASS_FILE = 1 << 9,
  O_REMOVE = 1 << 10,
  O_WITH_KEY = 1 << 11,
  O_ACK_OUT = 1 << 12,
};

/* One command: the options it takes and its lines in --help. As in tunduk,
 * help_check() refuses a help that does not name an option the command
 * takes or names one it does not (it_cli_help). A new option: its O_ bit,
 * its line in options[] and in the command's opts and usage. */
typedef struct command {
  const char *name;
  unsigned opts;
  const char *usage;
} command_t;

static const command_t commands[] = {
    {"init", O_NAME | O_KDF,
     "  init [--name NAME] [--kdf interactive|moderate|sensitive]\n"
     "                       make the hub's identity and store\n"},
    {"serve", O_LISTEN | O_CONFIG | O_LOG_LEVEL,
     "  serve [--listen ADDR:PORT] [--config FILE] [--log-level LEVEL]\n"
     "                       run the hub made by init (serve never makes one: a\n"
     "                       mistyped --home is refused); one serve per home\n"},
    {"device", O_VAULT | O_ADDRESS | O_TTL | O_CONFIG | O_JSON | O_REMOVE,
     "  device add NAME [--vault V[:rw]]... [--address HOST:PORT] [--ttl-hours N] "
     "[--config FILE]\n"
     "                       print a one-time enrollment token for a new office device\n"
     "                       (names are unique; the address: --address, else the "
     "config's\n"
     "                       public_address, else listen)\n"
     "  device list [--json] the hub itself, enrolled devices and pending tokens\n"
     "  device access ID [--vault V[:rw]]... [--remove V]...\n"
     "                       change an enrolled device's access (ID: its name or id);\n"
     "                       the office learns it at its next sync\n"
     "  device tokens [--json]  pending enrollment tokens (never their secret)\n"
     "  device cancel TOKEN-ID  cancel a pending token: enrolling with it fails\n"
     "  device rename ID NAME  give a device another (unique) name\n"
     "  device revoke ID     refuse a device from now on and close its connections\n"},
    {"quarantine", O_JSON,
     "  quarantine list [--json]  revisions held back by a moderation rule\n"
     "  quarantine release REV    let a held revision into the store (it syncs on)\n"
     "  quarantine drop REV       delete a held revision\n"},
    {"backup", O_WITH_KEY | O_JSON | O_CONFIG,
     "  backup DIR [--with-key] [--json] [--config FILE]\n"
     "                       back the hub up into the new (or empty) folder DIR while "
     "it\n"
     "                       serves: store and attachments, config (FILE, else "
     "HOME's),\n"
     "                       plugins, a manifest with SHA-256s; the key file only with\n"
     "                       --with-key\n"},
    {"restore", 0,
     "  restore DIR          put a backup in place of a stopped hub's store (checked\n"
     "                       first; the current store is kept aside); it gets a new\n"
     "                       store identity, and offices re-offer what it lacks\n"},
    {"status", O_JSON,
     "  status [--json]      what the running hub is doing: uptime, connections, "
     "devices\n"
     "                       (last seen, last session), sizes, last backup; exit 3 when\n"
     "                       no hub runs on this home\n"},
    {"config", 0,
     "  config               print the configuration file with its defaults\n"},
    {"plugin", O_JSON | O_CONFIG,
     "  plugin list [--json] [--config FILE]\n"
     "                       the hub's plugins and the folder each comes from\n"
     "  plugin test PLUGIN SAMPLES.jsonl [--config FILE]\n"
     "                       run sample records through the hub's plugins as the hub\n"
     "                       would (moderation verdicts of every rule, no record "
     "body)\n"},
    {"bundle", O_ACK_OUT | O_JSON | O_CONFIG,
     "  bundle apply FILE [--ack-out FILE] [--json] [--config FILE]\n"
     "                       apply a bundle an office wrote for this hub (a USB "
     "stick),\n"
     "                       with every check of a push; --ack-out writes the "
     "office's\n"
     "                       acknowledgement\n"},
    {"passphrase", O_NEW_PASS_FILE | O_KDF,
     "  passphrase [--new-passphrase-file FILE] [--kdf LEVEL]\n"
     "                       change the key file's passphrase (as tunduk passphrase)\n"},
};

#define MAX_VAULT_ARGS 64

typedef struct opts {
  const char *home, *pass_file, *name, *kdf, *listen, *config, *log_level, *address, *ttl;
  const char *new_pass_file; /* passphrase --new-passphrase-file */
  const char *ack_out;       /* bundle apply --ack-out */
  const char *vaults[MAX_VAULT_ARGS];
  const char *removes[MAX_VAULT_ARGS]; /* device access --remove */
  int nvaults, nremoves, json, with_key;
  const char *args[4];
  int nargs;
  unsigned seen; /* O_* given on the command line */
  tk_err_t err;
} opts_t;

/* The options after the global --home and --passphrase-file: a value's
 * slot in opts_t (--vault and --json are handled apart). */
static const struct {
  const char *name;
  unsigned opt;
  size_t slot;
} options[] = {
    {"--name", O_NAME, offsetof(opts_t, name)},
    {"--kdf", O_KDF, offsetof(opts_t, kdf)},
    {"--listen", O_LISTEN, offsetof(opts_t, listen)},
    {"--config", O_CONFIG, offsetof(opts_t, config)},
    {"--log-level", O_LOG_LEVEL, offsetof(opts_t, log_level)},
    {"--address", O_ADDRESS, offsetof(opts_t, address)},
    {"--ttl-hours", O_TTL, offsetof(opts_t, ttl)},
    {"--vault", O_VAULT, 0},
    {"--json", O_JSON, 0},
    {"--new-passphrase-file", O_NEW_PASS_FILE, offsetof(opts_t, new_pass_file)},
    {"--remove", O_REMOVE, 0},
    {"--with-key", O_WITH_KEY, 0},
    {"--ack-out", O_ACK_OUT, offsetof(opts_t, ack_out)},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])
#define NOPTIONS (sizeof options / sizeof options[0])

/* Whether text names the option name as a whole word. */
static int names_option(const char *text, const char *name)
{
  size_t n = strlen(name);
  for (const char *p = strstr(text, name); p; p = strstr(p + 1, name)) {
    int before = p > text && (isalnum((unsigned char)p[-1]) || p[-1] == '-');
    int after = isalnum((unsigned char)p[n]) || p[n] == '-' || p[n] == '_';
    if (!before && !after) return 1;
  }
  return 0;
}

/* 0 if cmd's usage names every option it takes and takes every option it
 * names (besides the global ones); else prints what drifted and returns 1. */
static int help_check(const command_t *cmd)
{
  int bad = 0;
  for (size_t k = 0; k < NOPTIONS; k++)
    if ((cmd->opts & options[k].opt) && !names_option(cmd->usage, options[k].name)) {
      fprintf(stderr, "tundukd: internal error: the help of '%s' does not name %s\n",
              cmd->name, options[k].name);
      bad = 1;
    }
  for (const char *p = cmd->usage; (p = strchr(p, '-')) != NULL; p++) {
    if ((p > cmd->usage && !strchr(" [|(\n", p[-1])) || p[1] != '-') continue;
    char word[64];
    size_t n = strspn(p, "-abcdefghijklmnopqrstuvwxyz0123456789");
    if (n >= sizeof word) n = sizeof word - 1;
    memcpy(word, p, n);
    word[n] = '\0';
    int ok = !strcmp(word, "--home") || !strcmp(word, "--passphrase-file");
    for (size_t k = 0; k < NOPTIONS && !ok; k++)
      ok = !strcmp(word, options[k].name) && (cmd->opts & options[k].opt);
    if (!ok) {
      fprintf(stderr,
              "tundukd: internal error: the help of '%s' names %s, which it does not "
              "take\n",
              cmd->name, word);
      bad = 1;
    }
    p += n - 1;
  }
  return bad;
}

/* --help: every command's lines, or one command's (cmd), on f. */
static int help(FILE *f, const command_t *cmd)
{
  int bad = 0;
  for (size_t k = 0; k < NCOMMANDS; k++)
    if (!cmd || cmd == &commands[k]) bad |= help_check(&commands[k]);
  if (bad) return 1;
  fprintf(f, "%s\n", usage_head);
  for (size_t k = 0; k < NCOMMANDS; k++)
    if (!cmd || cmd == &commands[k]) fputs(commands[k].usage, f);
  fprintf(f, "\n%s", usage_foot);
  return 0;
}

static int usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage(const char *fmt, ...)
{
  va_list ap;
  fprintf(stderr, "tundukd: ");
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, " (see 'tundukd --help')\n");
  return 2;
}

/* Exit 2 (bad input, nothing changed): malformed input, a limit, an id,
 * name or prefix that names nothing or more than one thing; as tunduk's. */
static int bad_input(int rc)
{
  return rc == TK_EINVAL || rc == TK_ELIMIT || rc == TK_ENOTFOUND || rc == TK_EAMBIG;
}

static int fail(opts_t *o, int rc)
{
  if (!o->err.msg[0]) tk_err_set(&o->err, rc, "%s", tk_strerror(rc));
  fprintf(stderr, "tundukd: %s\n", tk_err_str(&o->err));
  return bad_input(rc) ? 2 : 1;
}

static void load_config(opts_t *o, tk_config_t *cfg, int *rc)
{
  char path[PATH_MAX];
  tk_config_defaults(cfg);
  if (o->config) {
    *rc = tk_config_load(cfg, o->config, &o->err);
  } else {
    if (tk_home_hub_config_path(path, sizeof path, o->home, NULL) == 0 &&
        access(path, F_OK) == 0)
      *rc = tk_config_load(cfg, path, &o->err);
  }
  if (!*rc && o->listen) {
    char host[TK_TOKEN_MAX_ADDR + 1];
    int port;
    if (strlen(o->listen) >= sizeof cfg->listen ||
        tk_addr_split(o->listen, host, &port) != 0)
      *rc = tk_err_set(&o->err, TK_EINVAL, "--listen must be host:port, got '%s'",
                       o->listen);
    else
      snprintf(cfg->listen, sizeof cfg->listen, "%s", o->listen);
  }
  if (!*rc && o->log_level) {
    int lvl = tk_log_level_parse(o->log_level);
    if (lvl < 0)
      *rc = tk_err_set(&o->err, TK_EINVAL,
                       "--log-level must be error, warn, info or debug");
    else
      cfg->log_level = lvl;
  }
}

/* --passphrase-file, else the systemd credential (service.h), else
 * $TUNDUKD_PASSPHRASE, else the terminal. The credential is read as a
 * passphrase file is (its first line). */
static int get_pass(opts_t *o, int confirm, char **pass, size_t *len)
{
  char cred[PATH_MAX];
  const char *file = o->pass_file;
  if (!file && service_credential(cred, sizeof cred)) file = cred;
  return tk_passphrase_get(file, "TUNDUKD_PASSPHRASE", o->home, confirm, pass, len,
                           &o->err);
}

static int do_init(opts_t *o)
{
  char *pass = NULL;
  size_t len = 0;
  tk_kdf_level_t level = TK_KDF_MODERATE;
  if (o->kdf) {
    if (strcmp(o->kdf, "interactive") == 0)
      level = TK_KDF_INTERACTIVE;
    else if (strcmp(o->kdf, "sensitive") == 0)
      level = TK_KDF_SENSITIVE;
    else if (strcmp(o->kdf, "moderate") != 0)
      return tk_err_set(&o->err, TK_EINVAL,
                        "--kdf must be interactive, moderate or sensitive");
  }
  int rc = get_pass(o, 1, &pass, &len);
  if (!rc)
    rc = tk_office_create(o->home, o->name ? o->name : "hub", pass, len, level, &o->err);
  tk_secure_free(pass);
  if (rc == TK_EEXIST)
    tk_err_set(&o->err, rc,
               "%s already holds a hub (see 'tundukd --home %s device list')", o->home,
               o->home);
  if (rc) return rc;
  tk_office_t *home = NULL;
  rc = tk_office_open(&home, o->home, &o->err);
  if (rc) return rc;
  char id[TK_DEVICE_ID_STRLEN];
  tk_device_id_format(id, tk_office_identity(home)->id);
  printf("hub device %s\n", id);
  fflush(stdout);
  tk_office_close(home);
  return 0;
}

/* Opens the hub's home for an admin command. A home without a key file is
 * named with the command that makes one (tk_office_open's message names the
 * office program). */
static int home_check(opts_t *o)
{
  char path[PATH_MAX];
  int rc = tk_home_key_path(path, sizeof path, o->home, &o->err);
  if (rc) return rc;
  if (access(path, F_OK) != 0)
    return tk_err_set(&o->err, TK_ENOTFOUND,
                      "no hub in %s (run 'tundukd --home %s init' first): %s is missing",
                      o->home, o->home, path);
  return 0;
}

static int open_home(opts_t *o, tk_office_t **home)
{
  int rc = home_check(o);
  return rc ? rc : tk_office_open(home, o->home, &o->err);
}

/* The passphrase of the hub's key file: the old one checked first, then the
 * new one (tk_office_passphrase_change: atomic, same strength unless
 * --kdf). */
static int do_passphrase(opts_t *o)
{
  int level = -1;
  if (o->kdf && tk_office_kdf_parse(o->kdf, &level) != 0)
    return tk_err_set(&o->err, TK_EINVAL,
                      "--kdf must be interactive, moderate or sensitive");
  tk_office_t *home = NULL;
  char *pass = NULL;
  size_t len = 0;
  int rc = open_home(o, &home);
  if (!rc) rc = get_pass(o, 0, &pass, &len);
  if (!rc) rc = tk_office_unlock(home, pass, len, &o->err);
  tk_secure_free(pass);
  pass = NULL;
  if (!rc)
    rc = tk_office_passphrase_new(o->new_pass_file, "--new-passphrase-file", o->home,
                                  &pass, &len, &o->err);
  if (!rc) rc = tk_office_passphrase_change(home, pass, len, level, &o->err);
  tk_secure_free(pass);
  tk_office_close(home);
  if (!rc)
    printf("passphrase changed: %s/device.key opens with the new one only\n", o->home);
  return rc;
}

/* ---- serve ----------------------------------------------------------------- */

static tk_hub_t *the_hub;
static opts_t *serve_opts; /* the command line serve was given, for SIGHUP */
static uv_signal_t sig_int, sig_term, sig_hup;

/* The warning for tokens that would carry an address offices cannot use. */
static void token_addr_warn(const tk_config_t *cfg)
{
  char why[600];
  const char *addr = cfg->public_address[0] ? cfg->public_address : cfg->listen;
  if (tk_hub_token_addr_check(addr, cfg->listen, why, sizeof why))
    TK_LOG(TK_LOG_WARN, "hub", "%s", why);
}

/* SIGHUP: the config file read again (the command line's --listen and
 * --log-level still win over it); a bad one is logged with file:line and
 * the running config stays. */
static void reload_config(void)
{
  opts_t o = *serve_opts;
  tk_config_t cfg;
  int rc = 0;
  memset(&o.err, 0, sizeof o.err);
  TK_LOG(TK_LOG_INFO, "hub", "reloading config");
  load_config(&o, &cfg, &rc);
  if (rc) {
    TK_LOG(TK_LOG_ERROR, "hub", "config reload failed, keeping the running config: %s",
           tk_err_str(&o.err));
    return;
  }
  tk_hub_reconfigure(the_hub, &cfg);
  token_addr_warn(tk_hub_config(the_hub));
}

static void on_signal(uv_signal_t *s, int signum)
{
  (void)s;
  if (signum == SIGHUP) {
    tk_err_t e;
    reload_config();
    TK_LOG(TK_LOG_INFO, "hub", "reloading plugins");
    service_reloading();
    if (tk_hub_reload_plugins(the_hub, &e) != 0)
      TK_LOG(TK_LOG_ERROR, "hub", "plugin reload failed, keeping the old ones: %s",
             tk_err_str(&e));
    service_reloaded();
    return;
  }
  TK_LOG(TK_LOG_INFO, "hub", "stopping signal=%d", signum);
  service_stopping();
  tundukd_metrics_stop();
  tk_hub_stop(the_hub);
  uv_close((uv_handle_t *)&sig_int, NULL);
  uv_close((uv_handle_t *)&sig_term, NULL);
  uv_close((uv_handle_t *)&sig_hup, NULL);
}

static int do_serve(opts_t *o)
{
  tk_config_t cfg;
  tk_office_t *home = NULL;
  tk_hub_t *hub = NULL;
  char *pass = NULL;
  size_t len = 0;
  uv_loop_t loop;
  int rc = 0;
  load_config(o, &cfg, &rc);
  if (rc) return rc;
  tk_log_level = cfg.log_level;
  /* The first line: which tundukd this is, for the admin reading a log. */
  TK_LOG(TK_LOG_INFO, "hub", "tundukd %s starting home=%s", TK_VERSION, o->home);
  /* Only init makes an identity: a mistyped --home must not become a new
   * hub that offices cannot pin (issue 17). */
  rc = home_check(o);
  if (rc) return rc;
  int lock = -1; /* held while serving: 'tundukd restore' waits for the stop */
  rc = tk_hub_serve_lock(o->home, &lock, &o->err);
  if (rc) return rc;
  rc = tk_office_open(&home, o->home, &o->err);
  if (!rc) service_status("unlocking the key file");
  if (!rc) rc = get_pass(o, 0, &pass, &len);
  if (!rc) rc = tk_office_unlock(home, pass, len, &o->err);
  tk_secure_free(pass);
  if (rc) goto done;
  uv_loop_init(&loop);
  rc = tk_hub_new(&hub, &loop, home, &cfg, &o->err);
  if (!rc) {
    /* the handlers before the port: a SIGTERM as soon as "listening" is
     * logged is a clean stop, not a kill */
    the_hub = hub;
    serve_opts = o;
    uv_signal_init(&loop, &sig_int);
    uv_signal_init(&loop, &sig_term);
    uv_signal_init(&loop, &sig_hup);
    uv_signal_start(&sig_int, on_signal, SIGINT);
    uv_signal_start(&sig_term, on_signal, SIGTERM);
    uv_signal_start(&sig_hup, on_signal, SIGHUP);
  }
  if (!rc) rc = tk_hub_listen(hub, &o->err);
  if (!rc && cfg.metrics[0]) rc = tundukd_metrics_start(&loop, hub, cfg.metrics, &o->err);
  if (rc) {
    tundukd_metrics_stop();
    if (hub) {
      tk_hub_stop(hub);
      uv_close((uv_handle_t *)&sig_int, NULL);
      uv_close((uv_handle_t *)&sig_term, NULL);
      uv_close((uv_handle_t *)&sig_hup, NULL);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    goto loop_done;
  }
  char id[TK_DEVICE_ID_STRLEN];
  tk_device_id_format(id, tk_office_identity(home)->id);
  TK_LOG(TK_LOG_INFO, "hub", "hub device=%s home=%s", id, o->home);
  TK_LOG(TK_LOG_INFO, "hub",
         "to enroll an office: tundukd --home %s device add NAME --vault VAULT:rw",
         o->home);
  token_addr_warn(&cfg);
  if (service_ready(&loop, hub, cfg.listen) != 0)
    TK_LOG(TK_LOG_WARN, "hub", "cannot start the systemd watchdog timer");
  uv_run(&loop, UV_RUN_DEFAULT);
  TK_LOG(TK_LOG_INFO, "hub", "stopped");
loop_done:
  tundukd_metrics_free();
  tk_hub_free(hub);
  if (uv_loop_close(&loop) != 0) TK_LOG(TK_LOG_WARN, "hub", "handles left open at exit");
done:
  tk_office_close(home);
  tk_hub_serve_unlock(lock);
  return rc;
}

/* ---- backup and restore (tk_hub_admin.h, hub_identity.c) -------------------- */

static int do_backup(opts_t *o)
{
  tk_office_t *home = NULL;
  static tk_hub_backup_info_t bi;
  int rc = open_home(o, &home);
  if (!rc) rc = tk_hub_backup_dir(home, o->args[1], o->config, o->with_key, &bi, &o->err);
  tk_office_close(home);
  if (rc) return rc;
  const tk_store_counts_t *c = &bi.counts;
  if (o->json) {
    json_t *j = json_pack("{s:s, s:s, s:s, s:I, s:f, s:b, s:I, s:I, s:I, s:I}", "dir",
                          bi.dir, "created", bi.created, "store_id", bi.store_id, "bytes",
                          (json_int_t)bi.bytes, "seconds", bi.seconds, "with_key",
                          o->with_key, "revisions", (json_int_t)c->revisions, "records",
                          (json_int_t)c->records, "chunks", (json_int_t)c->chunks,
                          "devices", (json_int_t)c->devices);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    if (text) puts(text);
    free(text);
    json_decref(j);
    return 0;
  }
  printf("backup of the hub written to %s in %.1f s: %llu bytes, %llu revisions, %llu "
         "records, %llu attachment chunks, %llu devices\n",
         bi.dir, bi.seconds, (unsigned long long)bi.bytes,
         (unsigned long long)c->revisions, (unsigned long long)c->records,
         (unsigned long long)c->chunks, (unsigned long long)c->devices);
  if (!o->with_key)
    printf("the key file is not in it: keep a copy of %s/%s offline, apart (it cannot be "
           "made again)\n",
           o->home, TK_HOME_KEYFILE);
  return 0;
}

static int do_restore(opts_t *o)
{
  static tk_hub_restore_info_t ri;
  char hex[2 * TK_HUB_STORE_ID_LEN + 1];
  int rc = tk_hub_restore_dir(o->home, o->args[1], &ri, &o->err);
  if (rc) return rc;
  tk_hex_encode(hex, ri.store_id, TK_HUB_STORE_ID_LEN);
  printf("restored the hub's store from %s (%llu revisions, %llu attachment chunks); its "
         "new store identity is %s: offices re-offer what it lacks at their next sync\n",
         o->args[1], (unsigned long long)ri.counts.revisions,
         (unsigned long long)ri.counts.chunks, hex);
  if (ri.aside[0]) printf("the store it replaced is kept as %s\n", ri.aside);
  if (ri.key_restored) printf("the key file came from the backup\n");
  if (ri.config_restored) printf("the config file came from the backup\n");
  if (ri.plugins_restored)
    printf("%d plugin files came from the backup\n", ri.plugins_restored);
  return 0;
}

/* ---- devices --------------------------------------------------------------- */

static int do_device_add(opts_t *o, tk_office_t *home)
{
  tk_config_t cfg;
  tk_token_info_t ti;
  char text[TK_TOKEN_MAX_TEXT];
  int rc = 0;
  load_config(o, &cfg, &rc);
  if (rc) return rc;
  const char *addr = o->address              ? o->address
                     : cfg.public_address[0] ? cfg.public_address
                                             : cfg.listen;
  tk_hub_token_req_t req = {o->args[2],          (const char *const *)o->vaults,
                            o->nvaults,          o->ttl,
                            cfg.token_ttl_hours, addr};
  rc = tk_hub_admin_token_issue(home, &req, text, &ti, &o->err);
  if (rc) return rc;
  printf("%s\n", text);
  char when[32], hex[2 * sizeof ti.id + 1], why[600];
  time_t t = (time_t)ti.expires;
  strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", gmtime(&t));
  tk_hex_encode(hex, ti.id, sizeof ti.id);
  fprintf(
      stderr,
      "tundukd: token %s for '%s' (vaults: %s), valid once until %s, hub address %s.\n"
      "tundukd: give it to the office over a trusted channel; it runs: tunduk enroll "
      "TOKEN\n",
      hex, ti.name, ti.access[0] ? ti.access : "none", when, addr);
  if (tk_hub_token_addr_check(addr, cfg.listen, why, sizeof why))
    fprintf(stderr, "tundukd: warning: %s\n", why);
  return 0;
}

/* A time as "YYYY-MM-DD HH:MM UTC". */
static const char *utc(char buf[32], json_int_t when)
{
  time_t t = (time_t)when;
  strftime(buf, 32, "%Y-%m-%d %H:%M UTC", gmtime(&t));
  return buf;
}

/* "a:r,b:rw" of a JSON access array, "-" when empty. */
static const char *access_text(const json_t *access, char *out, size_t n)
{
  size_t j, len = 0;
  json_t *a;
  out[0] = '\0';
  json_array_foreach(access, j, a)
  {
    int w = snprintf(out + len, n - len, "%s%s%s", j ? "," : "",
                     json_string_value(json_object_get(a, "vault")),
                     json_is_true(json_object_get(a, "write")) ? ":rw" : ":r");
    if (w < 0 || (size_t)w >= n - len) break;
    len += (size_t)w;
  }
  return out[0] ? out : "-";
}

static void print_token(const json_t *t)
{
  char when[32], acc[TK_HUB_ACCESS_MAX];
  printf("token   %s  %-20s %s  expires %s%s\n",
         json_string_value(json_object_get(t, "id")),
         json_string_value(json_object_get(t, "name")),
         access_text(json_object_get(t, "access"), acc, sizeof acc),
         utc(when, json_integer_value(json_object_get(t, "expires"))),
         json_is_true(json_object_get(t, "expired")) ? " (expired)" : "");
}

/* One line per device: the hub itself first (marked "hub"), as in JSON. */
static void print_device(const json_t *d)
{
  char when[32], seen[32], seen_text[48] = "", acc[TK_HUB_ACCESS_MAX];
  int hub = json_is_true(json_object_get(d, "hub"));
  json_int_t last = json_integer_value(json_object_get(d, "last_seen"));
  if (!hub)
    snprintf(seen_text, sizeof seen_text, "seen %s  ", last ? utc(seen, last) : "never");
  printf("%s  %s  %-20s added %s  %s%s%s\n", hub ? "hub   " : "device",
         json_string_value(json_object_get(d, "id")),
         json_string_value(json_object_get(d, "name")),
         utc(when, json_integer_value(json_object_get(d, "added"))), seen_text,
         hub ? "(this hub)" : access_text(json_object_get(d, "access"), acc, sizeof acc),
         json_is_true(json_object_get(d, "revoked")) ? "  REVOKED" : "");
}

/* The devices, the hub first and marked (text "hub", JSON "hub": true),
 * each with when it enrolled (`added`) and when the hub last saw it
 * (`last_seen`: a session's start or end; null: never), then in text the
 * pending tokens (in JSON: `device tokens --json`). */
static int do_device_list(opts_t *o, tk_office_t *home)
{
  json_t *arr = NULL, *toks = NULL, *d, *sorted = json_array();
  size_t i;
  char selfid[TK_DEVICE_ID_STRLEN];
  tk_device_id_format(selfid, tk_office_identity(home)->id);
  int rc = tk_hub_admin_devices(home, &arr, &o->err);
  if (!rc) rc = tk_hub_admin_pending_tokens(home, &toks, &o->err);
  if (!rc && !sorted) rc = tk_err_set(&o->err, TK_ENOMEM, "out of memory");
  if (rc) goto done;
  for (int pass = 0; pass < 2; pass++) /* the hub first */
    json_array_foreach(arr, i, d)
    {
      int self = !strcmp(json_string_value(json_object_get(d, "id")), selfid);
      if (self != !pass) continue;
      json_object_set_new(d, "hub", json_boolean(self));
      json_array_append(sorted, d);
    }
  if (o->json) {
    char *s = json_dumps(sorted, JSON_INDENT(2));
    if (s) puts(s);
    free(s);
  } else {
    json_array_foreach(sorted, i, d) print_device(d);
    json_array_foreach(toks, i, d) print_token(d);
  }
done:
  json_decref(sorted);
  json_decref(toks);
  json_decref(arr);
  return rc;
}

static int do_device_tokens(opts_t *o, tk_office_t *home)
{
  json_t *toks = NULL, *t;
  size_t i;
  int rc = tk_hub_admin_pending_tokens(home, &toks, &o->err);
  if (rc) return rc;
  if (o->json) {
    char *s = json_dumps(toks, JSON_INDENT(2));
    if (s) puts(s);
    free(s);
  } else {
    if (!json_array_size(toks)) printf("no pending tokens\n");
    json_array_foreach(toks, i, t) print_token(t);
  }
  json_decref(toks);
  return 0;
}

static int do_device_cancel(opts_t *o, tk_office_t *home)
{
  tk_token_info_t t;
  char hex[2 * sizeof t.id + 1];
  int rc = tk_hub_admin_token_cancel(home, o->args[2], &t, &o->err);
  if (rc) return rc;
  tk_hex_encode(hex, t.id, sizeof t.id);
  printf("cancelled token %s for '%s' (vaults: %s): enrolling with it now fails\n", hex,
         t.name, t.access[0] ? t.access : "none");
  return 0;
}

static int do_device_access(opts_t *o, tk_office_t *home)
{
  tk_device_info_t d;
  char id[TK_DEVICE_ID_STRLEN], access[TK_HUB_ACCESS_MAX];
  tk_hub_access_req_t req = {o->args[2], (const char *const *)o->vaults, o->nvaults,
                             (const char *const *)o->removes, o->nremoves};
  int rc = tk_hub_admin_access(home, &req, &d, access, &o->err);
  if (rc) return rc;
  tk_device_id_format(id, d.id);
  printf("device %s '%s' access: %s\n", id, d.name, access[0] ? access : "none");
  fprintf(stderr,
          "tundukd: the office gets it at its next sync (a running hub applies it "
          "to open connections within a second)\n");
  return 0;
}

static int do_device_rename(opts_t *o, tk_office_t *home)
{
  tk_device_info_t d;
  char id[TK_DEVICE_ID_STRLEN];
  int rc = tk_hub_admin_rename(home, o->args[2], o->args[3], &d, &o->err);
  if (rc) return rc;
  tk_device_id_format(id, d.id);
  printf("device %s renamed from '%s' to '%s'\n", id, d.name, o->args[3]);
  return 0;
}

static int do_device_revoke(opts_t *o, tk_office_t *home)
{
  char id[TK_DEVICE_ID_STRLEN];
  int rc = tk_hub_admin_revoke(home, o->args[2], id, &o->err);
  if (rc) return rc;
  printf("revoked %s\n", id);
  return 0;
}

/* The device subcommands and their argument counts (with "device SUB"). */
typedef struct device_cmd {
  const char *name;
  int nargs;
  int (*run)(opts_t *o, tk_office_t *home);
} device_cmd_t;

static const device_cmd_t device_cmds[] = {
    {"add", 3, do_device_add},       {"list", 2, do_device_list},
    {"access", 3, do_device_access}, {"tokens", 2, do_device_tokens},
    {"cancel", 3, do_device_cancel}, {"rename", 4, do_device_rename},
    {"revoke", 3, do_device_revoke},
};

static const device_cmd_t *device_cmd(const char *name)
{
  for (size_t k = 0; k < sizeof device_cmds / sizeof device_cmds[0]; k++)
    if (!strcmp(name, device_cmds[k].name)) return &device_cmds[k];
  return NULL;
}

/* ---- quarantine ------------------------------------------------------------ */

/* bundle apply FILE: the hub's key unlocked (the bundle is sealed to it). */
static int do_bundle(opts_t *o)
{
  tk_config_t cfg;
  tk_office_t *home = NULL;
  tk_hub_bundle_result_t r;
  char *pass = NULL;
  size_t len = 0;
  int rc = 0;
  load_config(o, &cfg, &rc);
  if (!rc) rc = open_home(o, &home);
  if (!rc) rc = get_pass(o, 0, &pass, &len);
  if (!rc) rc = tk_office_unlock(home, pass, len, &o->err);
  tk_secure_free(pass);
  if (!rc) rc = tk_hub_bundle_apply(home, &cfg, o->args[2], o->ack_out, &r, &o->err);
  tk_office_close(home);
  if (rc) return rc;
  if (o->json) {
    json_t *j = json_pack(
        "{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f}", "peer", r.peer,
        "revisions", (json_int_t)r.revisions, "accepted", (json_int_t)r.accepted,
        "duplicates", (json_int_t)r.duplicates, "rejected", (json_int_t)r.rejected,
        "quarantined", (json_int_t)r.quarantined, "chunks", (json_int_t)r.chunks,
        "chunks_stored", (json_int_t)r.chunks_stored, "log_new", (json_int_t)r.log_new,
        "file_bytes", (json_int_t)r.file_bytes, "seconds", r.seconds);
    char *t = j ? json_dumps(j, JSON_COMPACT) : NULL;
    if (t) puts(t);
    free(t);
    json_decref(j);
  } else {
    printf("bundle from %s: %llu revisions (%llu new, %llu already here, %llu refused, "
           "%llu held), %llu of %llu chunks stored; %.2f s\n",
           r.peer, (unsigned long long)r.revisions, (unsigned long long)r.accepted,
           (unsigned long long)r.duplicates, (unsigned long long)r.rejected,
           (unsigned long long)r.quarantined, (unsigned long long)r.chunks_stored,
           (unsigned long long)r.chunks, r.seconds);
  }
  if (r.first_reject[0]) fprintf(stderr, "tundukd: refused %s\n", r.first_reject);
  if (r.log_new)
    fprintf(stderr,
            "tundukd: %llu membership log entries this hub lacks were not taken (they "
            "come by a live sync)\n",
            (unsigned long long)r.log_new);
  return 0;
}

static int do_quarantine(opts_t *o, tk_office_t *home)
{
  const char *sub = o->args[1];
  if (!strcmp(sub, "list")) {
    json_t *arr = NULL, *q;
    size_t i;
    int rc = tk_hub_admin_quarantine_list(home, &arr, &o->err);
    if (!rc && o->json) {
      char *s = json_dumps(arr, JSON_INDENT(2));
      puts(s);
      free(s);
    } else if (!rc) {
      json_array_foreach(arr, i, q)
      {
        printf("%.16s  %-10s %-16s %6u B  by %.9s  %s\n",
               json_string_value(json_object_get(q, "revision")),
               json_string_value(json_object_get(q, "type")),
               json_string_value(json_object_get(q, "vault")),
               (unsigned)json_integer_value(json_object_get(q, "size")),
               json_string_value(json_object_get(q, "author")),
               json_string_value(json_object_get(q, "reason")));
      }
    }
    json_decref(arr);
    return rc;
  }
  char hex[2 * TK_REV_ID_LEN + 1];
  int rc =
      tk_hub_admin_quarantine_act(home, o->args[2], !strcmp(sub, "drop"), hex, &o->err);
  if (rc) return rc;
  printf("%s %s\n", !strcmp(sub, "drop") ? "dropped" : "released", hex);
  return 0;
}

/* ---- plugin test ----------------------------------------------------------- */
/* The hub's side of `tunduk plugin test` (the same lines): the samples go
 * through the hub's plugin layers, and the rules are given what a hub
 * without vault keys has, the envelope (meta) and no record. */

static int sample_line(FILE *f, char **line, size_t *cap, size_t *len)
{
  ssize_t n = getline(line, cap, f);
  if (n < 0) return 0;
  while (n > 0 && ((*line)[n - 1] == '\n' || (*line)[n - 1] == '\r'))
    (*line)[--n] = 0;
  *len = (size_t)n;
  return n > TK_MAX_BODY_JSON ? -1 : 1;
}

static void hub_verdict(void *ctx, const char *rule, const char *file,
                        const char *verdict, const char *reason)
{
  char text[TK_OFFICE_SAMPLE_TEXT];
  (void)ctx;
  tk_office_verdict_text(rule, file, verdict, reason, text, sizeof text);
  puts(text);
}

/* One column's width: the longest of its header and its entries. */
static int col_width(const json_t *plugins, const char *key, int least)
{
  size_t i;
  json_t *d;
  int w = least;
  json_array_foreach(plugins, i, d)
  {
    const char *v = json_string_value(json_object_get(d, key));
    if (v && (int)strlen(v) > w) w = (int)strlen(v);
  }
  return w;
}

static int do_plugin_list(opts_t *o)
{
  tk_config_t cfg;
  tk_office_layers_t layers;
  json_t *j = NULL, *v;
  size_t i;
  int rc = 0;
  load_config(o, &cfg, &rc);
  if (!rc) rc = tk_hub_plugin_layers(&cfg, o->home, &layers, &o->err);
  if (!rc) rc = tk_office_plugin_list_layers(&layers, &j, &o->err);
  if (rc) return fail(o, rc);
  const json_t *plugins = json_object_get(j, "plugins"),
               *errors = json_object_get(j, "errors");
  if (o->json) {
    char *text = json_dumps(j, JSON_INDENT(2));
    if (text) puts(text);
    free(text);
  } else {
    printf("plugins from %s\n", json_string_value(json_object_get(j, "folder")));
    json_array_foreach(json_object_get(j, "layers"), i, v)
    {
      printf("  %-8s %s%s\n", json_string_value(json_object_get(v, "name")),
             json_string_value(json_object_get(v, "folder")),
             json_is_true(json_object_get(v, "present")) ? "" : " (none)");
    }
    int wn = col_width(plugins, "name", 4), wk = col_width(plugins, "kind", 4),
        wf = col_width(plugins, "file", 4);
    printf("%-*s %-*s %-*s %s\n", wn, "NAME", wk, "KIND", wf, "FILE", "FROM");
    json_array_foreach(plugins, i, v)
    {
      const char *over = json_string_value(json_object_get(v, "overrides"));
      printf("%-*s %-*s %-*s %s%s%s%s%s\n", wn,
             json_string_value(json_object_get(v, "name")), wk,
             json_string_value(json_object_get(v, "kind")), wf,
             json_string_value(json_object_get(v, "file")),
             json_string_value(json_object_get(v, "from")), over ? " (over " : "",
             over ? over : "", over ? ")" : "",
             json_is_true(json_object_get(v, "kept")) ? ", its file failed" : "");
    }
    if (json_array_size(errors)) printf("\nnot loaded:\n");
    json_array_foreach(errors, i, v) printf("  %s\n", json_string_value(v));
  }
  rc = json_array_size(errors) ? 1 : 0;
  json_decref(j);
  return rc;
}

static int do_plugin_test(opts_t *o)
{
  tk_config_t cfg;
  tk_office_layers_t layers;
  tk_office_plugin_test_t *t = NULL;
  json_t *notes = NULL, *n;
  size_t i, cap = 0, len = 0;
  char *line = NULL;
  int rc = 0, code = 0, lineno = 0, ninvalid = 0;
  const char *path = o->args[3];
  load_config(o, &cfg, &rc);
  if (!rc) rc = tk_hub_plugin_layers(&cfg, o->home, &layers, &o->err);
  if (!rc)
    rc = tk_office_plugin_test_open_layers(&t, &layers, o->args[2], 1, &notes, &o->err);
  json_array_foreach(notes, i, n) printf("not loaded: %s\n", json_string_value(n));
  json_decref(notes);
  if (rc) return fail(o, rc);
  FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
  if (!f) {
    tk_err_set(&o->err, TK_EIO, "cannot open %s: %s", path, strerror(errno));
    tk_office_plugin_test_free(t);
    return fail(o, TK_EIO);
  }
  printf("plugin %s", tk_office_plugin_test_plugin(t));
  if (tk_office_plugin_test_type(t))
    printf(" (content type %s)", tk_office_plugin_test_type(t));
  printf(", samples %s; rules see the envelope only, as at this hub\n", path);
  for (;;) {
    tk_office_sample_t res;
    int r = sample_line(f, &line, &cap, &len);
    if (r == 0) break;
    lineno++;
    if (r < 0) {
      fprintf(stderr, "tundukd: %s:%d: line longer than %u bytes\n", path, lineno,
              TK_MAX_BODY_JSON);
      code = 1;
      break;
    }
    if ((rc = tk_office_plugin_test_line(t, line, len, lineno, &res, &o->err)) != 0) {
      code = fail(o, rc);
      break;
    }
    if (res.status == TK_SAMPLE_BAD_JSON || res.status == TK_SAMPLE_NOT_OBJECT)
      fprintf(stderr, "tundukd: %s:%d:%d: %s\n", path, lineno, res.column, res.message);
    char text[TK_OFFICE_SAMPLE_TEXT];
    int k = tk_office_sample_text(&res, tk_office_plugin_test_plugin(t), lineno, text,
                                  sizeof text);
    if (text[0]) puts(text);
    if (k > 0) ninvalid++;
    if (k < 0) code = 1;
    tk_office_plugin_test_moderate(t, hub_verdict, NULL);
  }
  printf("%zu valid, %d invalid\n", tk_office_plugin_test_valid(t), ninvalid);
  if (f != stdin) fclose(f);
  free(line);
  tk_office_plugin_test_free(t);
  return code;
}

/* ---- main ------------------------------------------------------------------ */

static const char *default_home(char *buf, size_t n)
{
  const char *env = getenv("TUNDUKD_HOME"), *xdg = getenv("XDG_DATA_HOME"),
             *home = getenv("HOME");
  if (env && *env) return env;
  if (xdg && *xdg)
    snprintf(buf, n, "%s/tundukd", xdg);
  else if (home && *home)
    snprintf(buf, n, "%s/.local/share/tundukd", home);
  else
    return NULL;
  return buf;
}

int main(int argc, char **argv)
{
  /* First of all: no core file may ever hold what this process decrypts. */
  if (tk_process_no_core() != 0) {
    fprintf(stderr, "tundukd: cannot turn core dumps off\n");
    return 1;
  }
  static char home_buf[PATH_MAX];
  opts_t o;
  memset(&o, 0, sizeof o);
  signal(SIGPIPE, SIG_IGN);
  int want_help = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char **slot = NULL;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      want_help = 1;
      continue;
    }
    if (!strcmp(a, "--version") && !o.nargs) { /* before a command, as in tunduk */
      printf("tundukd %s\n", TK_VERSION);
      return 0;
    }
    if (!strcmp(a, "--home")) {
      slot = &o.home;
    } else if (!strcmp(a, "--passphrase-file")) {
      slot = &o.pass_file;
    } else if (a[0] == '-' && a[1] == '-') {
      size_t k;
      for (k = 0; k < NOPTIONS; k++)
        if (!strcmp(a, options[k].name)) break;
      if (k == NOPTIONS) return usage("unknown option %s", a);
      o.seen |= options[k].opt;
      if (options[k].opt == O_JSON) {
        o.json = 1;
        continue;
      }
      if (options[k].opt == O_WITH_KEY) {
        o.with_key = 1;
        continue;
      }
      if (options[k].opt == O_VAULT) {
        if (o.nvaults == MAX_VAULT_ARGS) return usage("too many %s options", a);
        slot = &o.vaults[o.nvaults++];
      } else if (options[k].opt == O_REMOVE) {
        if (o.nremoves == MAX_VAULT_ARGS) return usage("too many %s options", a);
        slot = &o.removes[o.nremoves++];
      } else {
        slot = (const char **)((char *)&o + options[k].slot);
      }
    }
    if (slot) {
      if (i + 1 >= argc) return usage("%s needs a value", a);
      *slot = argv[++i];
      continue;
    }
    if (o.nargs == 4) return usage("too many arguments");
    o.args[o.nargs++] = a;
  }
  if (!o.nargs && want_help) return help(stdout, NULL);
  if (!o.nargs) return help(stderr, NULL) ? 1 : 2;
  const command_t *command = NULL;
  for (size_t k = 0; k < NCOMMANDS; k++)
    if (!strcmp(o.args[0], commands[k].name)) command = &commands[k];
  if (!command) return usage("unknown command '%s'", o.args[0]);
  for (size_t k = 0; k < NOPTIONS; k++)
    if (o.seen & ~command->opts & options[k].opt)
      return usage("'%s' does not take %s", command->name, options[k].name);
  if (want_help) return help(stdout, command);
  if (!o.home) o.home = default_home(home_buf, sizeof home_buf);
  if (!o.home) return usage("no home folder: use --home DIR or set TUNDUKD_HOME");
  if (tk_crypto_init() != 0) {
    fputs("tundukd: cannot initialise libsodium\n", stderr);
    return 1;
  }
  const char *cmd = o.args[0];
  int rc;
  if (!strcmp(cmd, "config") && o.nargs == 1) {
    fputs(tk_config_template(), stdout);
    return 0;
  }
  if (!strcmp(cmd, "init") && o.nargs == 1) {
    rc = do_init(&o);
    return rc ? fail(&o, rc) : 0;
  }
  if (!strcmp(cmd, "passphrase") && o.nargs == 1) {
    rc = do_passphrase(&o);
    return rc ? fail(&o, rc) : 0;
  }
  if (!strcmp(cmd, "status") && o.nargs == 1) return tundukd_status(o.home, o.json);
  if (!strcmp(cmd, "serve") && o.nargs == 1) {
    rc = do_serve(&o);
    return rc ? fail(&o, rc) : 0;
  }
  if ((!strcmp(cmd, "backup") || !strcmp(cmd, "restore")) && o.nargs == 2) {
    rc = !strcmp(cmd, "backup") ? do_backup(&o) : do_restore(&o);
    return rc ? fail(&o, rc) : 0;
  }
  if (!strcmp(cmd, "device") && o.nargs >= 2) {
    const device_cmd_t *dc = device_cmd(o.args[1]);
    if (!dc || o.nargs != dc->nargs)
      return usage("usage: tundukd device add NAME | list | access ID | tokens | cancel "
                   "TOKEN-ID | rename ID NAME | revoke ID");
    if (o.nvaults && strcmp(dc->name, "add") && strcmp(dc->name, "access"))
      return usage("--vault goes with 'device add' or 'device access'");
    if (o.nremoves && strcmp(dc->name, "access"))
      return usage("--remove goes with 'device access'");
    if (o.json && strcmp(dc->name, "list") && strcmp(dc->name, "tokens"))
      return usage("--json goes with 'device list' or 'device tokens'");
    tk_office_t *home = NULL;
    rc = open_home(&o, &home);
    if (!rc) rc = dc->run(&o, home);
    tk_office_close(home);
    return rc ? fail(&o, rc) : 0;
  }
  if (!strcmp(cmd, "bundle")) {
    if (o.nargs != 3 || strcmp(o.args[1], "apply") != 0)
      return usage("usage: tundukd bundle apply FILE [--ack-out FILE] [--json]");
    rc = do_bundle(&o);
    return rc ? fail(&o, rc) : 0;
  }
  if (!strcmp(cmd, "plugin")) {
    if (o.nargs == 2 && !strcmp(o.args[1], "list")) return do_plugin_list(&o);
    if (o.nargs != 4 || strcmp(o.args[1], "test") != 0)
      return usage(
          "usage: tundukd plugin list [--json] | plugin test PLUGIN SAMPLES.jsonl");
    return do_plugin_test(&o);
  }
  if (!strcmp(cmd, "quarantine") && o.nargs >= 2) {
    const char *sub = o.args[1];
    int want = !strcmp(sub, "list") ? 2 : 3;
    if ((strcmp(sub, "list") && strcmp(sub, "release") && strcmp(sub, "drop")) ||
        o.nargs != want)
      return usage("usage: tundukd quarantine list | release REV | drop REV");
    tk_office_t *home = NULL;
    rc = open_home(&o, &home);
    if (!rc) rc = do_quarantine(&o, home);
    tk_office_close(home);
    return rc ? fail(&o, rc) : 0;
  }
  return usage("unknown command '%s'", cmd);
}
