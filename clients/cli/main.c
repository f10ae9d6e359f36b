/*
 * main.c: the `tunduk` office command: global options, the home folder,
 * dispatch to the commands, and the shared input/output helpers.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* The blocks of --help, in order. */
enum { SEC_STORE, SEC_RECORDS, SEC_PLUGINS, SEC_SYNC, SEC_N };
static const char *const section_title[SEC_N] = {
    "Office store and keys:",
    "Records:",
    "Plugins (the bundled ones, then HOME/plugin-set, then HOME/plugins, by file name):",
    "Sync with the hub:",
};

static const char usage_head[] =
    "usage: tunduk [--home DIR] [--passphrase-file FILE] COMMAND [ARGS]\n"
    "       tunduk --version\n";
static const char usage_foot[] =
    "The store is --home DIR, else $TUNDUK_HOME, else ~/.local/share/tunduk.\n"
    "The passphrase comes from --passphrase-file, else $TUNDUK_PASSPHRASE, else a "
    "prompt.\n";

/* One command: what it runs, the options it takes and its lines in --help.
 * Every option it takes must be named in usage, and every option usage
 * names must be one it takes: help_check() refuses to print a help that
 * drifted from the table (it_cli_help runs it for every command). A new
 * option: its OPT_ bit in cli.h, its line in options[] below, the bit in
 * the command's opts here and the option in the command's usage. */
typedef struct command {
  const char *name;
  int (*fn)(cli_t *c);
  unsigned opts; /* OPT_* it accepts */
  int min_args, max_args;
  int section;       /* SEC_*: the block of --help it is listed in */
  const char *usage; /* its lines of --help: "  NAME ARGS  what it does\n"... */
} command_t;

static const command_t commands[] = {
    {"init", cmd_init, OPT_NAME | OPT_KDF, 0, 0, SEC_STORE,
     "  init [--name NAME] [--kdf interactive|moderate|sensitive]\n"
     "                                  make the store and this device's keys\n"},
    {"whoami", cmd_whoami, OPT_JSON, 0, 0, SEC_STORE,
     "  whoami [--json]                 print this device's id\n"},
    {"vault", cmd_vault, OPT_JSON | OPT_READ, 1, 3, SEC_STORE,
     "  vault create NAME               make a vault (a set of records with one key)\n"
     "  vault list [--json]             list vaults\n"
     "  vault grant V DEVICE-ID [--read] add a member to vault V (a writer, or a "
     "reader)\n"
     "  vault remove V DEVICE-ID        remove a member of vault V and rotate its key\n"},
    {"config", cmd_config, OPT_JSON, 0, 2, SEC_STORE,
     "  config [KEY [VALUE]] [--json]   print the settings, one, or set one: "
     "organisation,\n"
     "                                  ui_idle_minutes (1..480), ui_language "
     "(en, ru, ky)\n"},
    {"passphrase", cmd_passphrase, OPT_KDF | OPT_NEW_PASS_FILE, 0, 0, SEC_STORE,
     "  passphrase [--new-passphrase-file FILE] [--kdf interactive|moderate|sensitive]\n"
     "                                  change the key file's passphrase (asks the old "
     "one, then\n"
     "                                  the new one twice; same key derivation unless "
     "--kdf)\n"},
    {"verify", cmd_verify, OPT_JSON, 0, 0, SEC_STORE,
     "  verify [--json]                 re-check every revision's hash, signature, tag "
     "and parents\n"},
    {"ui", cmd_ui, OPT_PORT | OPT_NO_BROWSER, 0, 0, SEC_RECORDS,
     "  ui [--port N] [--no-browser]    work in your browser: this office's records, "
     "forms,\n"
     "                                  sync and reports (on this computer only; prints "
     "the\n"
     "                                  address to open, once)\n"},
    {"new", cmd_new, OPT_VAULT | OPT_JSON, 1, 2, SEC_RECORDS,
     "  new TYPE --vault V [FILE|-] [--json]\n"
     "                                  new record from a JSON object; prints its id\n"
     "                                  (--json: {\"record\", \"revision\"})\n"},
    {"edit", cmd_edit, OPT_UNDELETE, 1, 2, SEC_RECORDS,
     "  edit ID [FILE|-] [--undelete]   new revision of a record (the input may be\n"
     "                                  what show prints in JSON; --undelete: of a\n"
     "                                  deleted record)\n"},
    {"delete", cmd_delete, 0, 1, 1, SEC_RECORDS,
     "  delete ID                       delete a record (a tombstone revision; history "
     "kept)\n"},
    {"show", cmd_show, OPT_REV | OPT_JSON, 1, 1, SEC_RECORDS,
     "  show ID [--rev R] [--json]      print a record (decrypted)\n"},
    {"list", cmd_list, OPT_TYPE | OPT_VAULT | OPT_ALL | OPT_JSON, 0, 0, SEC_RECORDS,
     "  list [--type T] [--vault V] [--all] [--json]\n"
     "                                  list records (--all: deleted ones too)\n"},
    {"history", cmd_history, OPT_JSON, 1, 1, SEC_RECORDS,
     "  history ID [--json]             list a record's revisions\n"},
    {"attach", cmd_attach, OPT_NAME, 2, 2, SEC_RECORDS,
     "  attach ID FILE [--name N]       attach a file (encrypted, in chunks); a new "
     "revision\n"},
    {"attachments", cmd_attachments, OPT_JSON, 1, 1, SEC_RECORDS,
     "  attachments ID [--json]         list a record's attachments and whether they "
     "are all here\n"},
    {"get", cmd_get, OPT_OUTPUT, 2, 2, SEC_RECORDS,
     "  get ID NAME -o OUT|-            decrypt an attachment to a file (hash "
     "checked)\n"},
    {"export", cmd_export,
     OPT_FORMAT | OPT_TYPE | OPT_VAULT | OPT_REDACT | OPT_OUTPUT | OPT_RECORD | OPT_LANG |
         OPT_TZ,
     0, 0, SEC_RECORDS,
     "  export --format F [--type T] [--vault V] [--redact FIELD,...] [-o FILE]\n"
     "         [--record ID] [--lang en|ru|ky] [--tz +HH:MM]\n"
     "                                  write current records through an export "
     "plugin;\n"
     "                                  --record: a case and its appeals and "
     "testimonies\n"
     "                                  (html: its printable report), --lang: its "
     "labels,\n"
     "                                  --tz: local time (default UTC)\n"},
    {"import", cmd_import,
     OPT_TYPE | OPT_VAULT | OPT_MAP | OPT_FORMAT | OPT_SKIP_INVALID | OPT_AGAIN |
         OPT_JSON,
     1, 1, SEC_RECORDS,
     "  import --type T --vault V FILE.csv|FILE.jsonl [--map MAP.json] [--format "
     "csv|jsonl]\n"
     "         [--skip-invalid] [--again] [--json]\n"
     "                                  new records from a spreadsheet or JSON Lines: "
     "every row\n"
     "                                  checked first; any row rejected: nothing written "
     "(exit 2)\n"
     "                                  unless --skip-invalid (exit 3 when rows were "
     "left out)\n"},
    {"plugin", cmd_plugin, OPT_JSON | OPT_VERSION, 1, 3, SEC_PLUGINS,
     "  plugin list [--json]            content types, exports, moderation rules; load "
     "errors\n"
     "  plugin test PLUGIN SAMPLES.jsonl\n"
     "                                  run sample records through validate, summary "
     "and exports\n"
     "  plugin publish VAULT DIR [--version N]\n"
     "                                  publish DIR's *.lua as the organisation's plugin "
     "set in VAULT\n"
     "  plugin follow VAULT             take this office's plugin set from VAULT (on "
     "every sync)\n"},
    {"enroll", cmd_enroll, OPT_MOVE | OPT_YES, 1, 1, SEC_SYNC,
     "  enroll TOKEN                    enroll this device at a hub (token from tundukd "
     "device add)\n"
     "  enroll --move TOKEN [--yes]     move this office to another hub (the old one "
     "lost): every\n"
     "                                  record kept and offered to the new hub; asks "
     "first\n"},
    {"status", cmd_status, OPT_JSON, 0, 0, SEC_SYNC,
     "  status [--json]                 what has not reached the hub yet, what was "
     "refused or is\n"
     "                                  held, incomplete attachments, the last sync, "
     "the hub\n"
     "                                  (exit 4 when something has not reached the "
     "hub)\n"},
    {"sync", cmd_sync, OPT_JSON | OPT_ALL | OPT_NO_RESUME | OPT_TIMEOUT, 0, 0, SEC_SYNC,
     "  sync [--all] [--json] [--no-resume] [--timeout SECONDS]\n"
     "                                  records both ways, then files (--all: offer and "
     "ask for everything;\n"
     "                                  --no-resume: full TLS handshake, no saved "
     "session;\n"
     "                                  --timeout: give up after SECONDS, 1..3600, "
     "without progress,\n"
     "                                  nothing received and nothing sent taken; "
     "default 30;\n"
     "                                  exit 4: something refused or not sent, named "
     "on stderr)\n"},
    {"conflicts", cmd_conflicts, OPT_JSON | OPT_TYPE | OPT_VAULT, 0, 0, SEC_SYNC,
     "  conflicts [--type T] [--vault V] [--json]\n"
     "                                  list records with conflicting revisions\n"},
    {"resolve", cmd_resolve, OPT_AUTO, 1, 2, SEC_SYNC,
     "  resolve ID [FILE|-]             write a merge revision over all heads of a "
     "record\n"
     "  resolve ID --auto               the same, merged by the content type's "
     "merge()\n"},
    {"bundle", cmd_bundle,
     OPT_OUTPUT | OPT_FOR | OPT_VAULT | OPT_ALL | OPT_ACK_OUT | OPT_JSON, 1, 2, SEC_SYNC,
     "  bundle create -o FILE [--for DEVICE-ID] [--vault V]... [--all] [--json]\n"
     "                                  a sync written to a file (a USB stick), sealed "
     "to "
     "the\n"
     "                                  recipient (default: the hub): what it lacks by "
     "its\n"
     "                                  checkpoints here (--all: everything)\n"
     "  bundle apply FILE [--ack-out FILE] [--json]\n"
     "                                  apply a bundle sealed to this office, with every "
     "check\n"
     "                                  of a sync; --ack-out writes the acknowledgement "
     "for its sender\n"},
    {"quarantine", cmd_quarantine, OPT_JSON, 1, 2, SEC_SYNC,
     "  quarantine list [--json] | release REV | drop REV\n"
     "                                  pulled revisions held back by a moderation "
     "rule\n"},
};

int cli_usage(const char *fmt, ...)
{
  va_list ap;
  fputs("tunduk: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputs(" (see 'tunduk --help')\n", stderr);
  return EXIT_USAGE;
}

int cli_fail(cli_t *c, int rc)
{
  if (c->err.code != rc || !c->err.msg[0]) tk_err_set(&c->err, rc, "%s", tk_strerror(rc));
  fprintf(stderr, "tunduk: %s\n", tk_err_str(&c->err));
  /* Bad input: malformed, over a limit, or an id, prefix or name that names
   * nothing or more than one thing. Nothing was changed. */
  int bad = rc == TK_EINVAL || rc == TK_ELIMIT || rc == TK_ENOTFOUND || rc == TK_EAMBIG;
  return bad ? EXIT_USAGE : EXIT_FAIL;
}

/* The office's unlock callback: asks for the passphrase when a command
 * first needs the keys. */
static int unlock(void *ctx, tk_office_t *o, tk_err_t *err)
{
  cli_t *c = ctx;
  char *pass = NULL;
  size_t len = 0;
  int rc = tk_office_passphrase(c->pass_file, "TUNDUK_PASSPHRASE", c->home, 0, &pass,
                                &len, err);
  if (!rc) rc = tk_office_unlock(o, pass, len, err);
  tk_office_secret_free(pass);
  return rc;
}

int cli_open(cli_t *c, int keys)
{
  int rc = 0;
  if (!c->office) {
    rc = tk_office_open(&c->office, c->home, &c->err);
    if (!rc) tk_office_set_unlock(c->office, unlock, c);
  }
  return rc || !keys ? rc : tk_office_need_keys(c->office, &c->err);
}

int cli_passphrase(cli_t *c, int confirm, char **out, size_t *len)
{
  return tk_office_passphrase(c->pass_file, "TUNDUK_PASSPHRASE", c->home, confirm, out,
                              len, &c->err);
}

int cli_read_body(cli_t *c, const char *path, json_t **out)
{
  FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
  tk_buf_t b = TK_BUF_INIT;
  int rc = 0;
  if (!f)
    return tk_err_set(&c->err, TK_EINVAL, "cannot open %s: %s", path, strerror(errno));
  for (;;) {
    if ((rc = tk_buf_reserve(&b, 65536))) break;
    size_t n = fread(b.p + b.n, 1, 65536, f);
    b.n += n;
    if (b.n > TK_MAX_BODY_JSON) {
      rc = tk_err_set(&c->err, TK_ELIMIT, "%s: record body is larger than %u bytes",
                      strcmp(path, "-") == 0 ? "stdin" : path, TK_MAX_BODY_JSON);
      break;
    }
    if (n == 0) {
      if (ferror(f)) rc = tk_err_set(&c->err, TK_EIO, "cannot read %s", path);
      break;
    }
  }
  if (f != stdin) fclose(f);
  if (!rc) rc = tk_office_body_parse((const char *)b.p, b.n, path, out, &c->err);
  tk_buf_wipe(&b);
  return rc;
}

void cli_device_short(char out[16], const char *id)
{
  snprintf(out, 16, "%.9s", id);
}

int cli_print_json(const json_t *v)
{
  char *s = json_dumps(v, JSON_INDENT(2));
  if (!s) return TK_ENOMEM;
  puts(s);
  free(s);
  return 0;
}

static const char *default_home(char *buf, size_t n)
{
  const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
  if (xdg && *xdg)
    snprintf(buf, n, "%s/tunduk", xdg);
  else if (home && *home)
    snprintf(buf, n, "%s/.local/share/tunduk", home);
  else
    return NULL;
  return buf;
}

static const struct {
  const char *name;
  unsigned opt;
  int takes_value;
} options[] = {
    {"--json", OPT_JSON, 0},
    {"--vault", OPT_VAULT, 1},
    {"--type", OPT_TYPE, 1},
    {"--rev", OPT_REV, 1},
    {"--name", OPT_NAME, 1},
    {"--kdf", OPT_KDF, 1},
    {"--all", OPT_ALL, 0},
    {"--auto", OPT_AUTO, 0},
    {"--format", OPT_FORMAT, 1},
    {"--redact", OPT_REDACT, 1},
    {"--output", OPT_OUTPUT, 1},
    {"-o", OPT_OUTPUT, 1},
    {"--no-resume", OPT_NO_RESUME, 0},
    {"--read", OPT_READ, 0},
    {"--timeout", OPT_TIMEOUT, 1},
    {"--map", OPT_MAP, 1},
    {"--skip-invalid", OPT_SKIP_INVALID, 0},
    {"--again", OPT_AGAIN, 0},
    {"--new-passphrase-file", OPT_NEW_PASS_FILE, 1},
    {"--move", OPT_MOVE, 0},
    {"--yes", OPT_YES, 0},
    {"--undelete", OPT_UNDELETE, 0},
    {"--version", OPT_VERSION, 1},
    {"--record", OPT_RECORD, 1},
    {"--lang", OPT_LANG, 1},
    {"--tz", OPT_TZ, 1},
    {"--port", OPT_PORT, 1},
    {"--no-browser", OPT_NO_BROWSER, 0},
    {"--for", OPT_FOR, 1},
    {"--ack-out", OPT_ACK_OUT, 1},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])
#define NOPTIONS (sizeof options / sizeof options[0])

/* Whether text names the option name as a whole word ("--all" does not name
 * "--all-x", "-o" is not in "--no-resume"). */
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
 * names (besides the global --home and --passphrase-file); else prints what
 * drifted and returns EXIT_FAIL. */
static int help_check(const command_t *cmd)
{
  int bad = 0;
  for (size_t k = 0; k < NOPTIONS; k++) {
    if (!(cmd->opts & options[k].opt)) continue;
    int named = 0;
    for (size_t j = 0; j < NOPTIONS && !named; j++)
      named =
          options[j].opt == options[k].opt && names_option(cmd->usage, options[j].name);
    if (!named) {
      fprintf(stderr, "tunduk: internal error: the help of '%s' does not name %s\n",
              cmd->name, options[k].name);
      bad = 1;
    }
  }
  for (const char *p = cmd->usage; (p = strchr(p, '-')) != NULL; p++) {
    if ((p > cmd->usage && !strchr(" [|(\n", p[-1])) ||
        !(p[1] == '-' || isalpha((unsigned char)p[1])))
      continue;
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
              "tunduk: internal error: the help of '%s' names %s, which it does "
              "not take\n",
              cmd->name, word);
      bad = 1;
    }
    p += n - 1;
  }
  return bad ? EXIT_FAIL : EXIT_OK;
}

/* --help: every command's lines by section, or one command's (cmd), on f. */
static int help(FILE *f, const command_t *cmd)
{
  int code = EXIT_OK;
  for (size_t k = 0; k < NCOMMANDS; k++)
    if (!cmd || cmd == &commands[k]) code |= help_check(&commands[k]);
  if (code) return code;
  fputs(usage_head, f);
  for (int sec = 0; sec < SEC_N && !cmd; sec++) {
    fprintf(f, "\n%s\n", section_title[sec]);
    for (size_t k = 0; k < NCOMMANDS; k++)
      if (commands[k].section == sec) fputs(commands[k].usage, f);
  }
  if (cmd) fprintf(f, "\n%s", cmd->usage);
  fprintf(f, "\n%s", usage_foot);
  return EXIT_OK;
}

static const char **option_slot(cli_t *c, unsigned opt)
{
  switch (opt) {
  case OPT_VAULT:
    return &c->vault;
  case OPT_TYPE:
    return &c->type;
  case OPT_REV:
    return &c->rev;
  case OPT_NAME:
    return &c->name;
  case OPT_KDF:
    return &c->kdf;
  case OPT_FORMAT:
    return &c->format;
  case OPT_REDACT:
    return &c->redact;
  case OPT_OUTPUT:
    return &c->output;
  case OPT_TIMEOUT:
    return &c->timeout;
  case OPT_MAP:
    return &c->map;
  case OPT_VERSION:
    return &c->set_version;
  case OPT_RECORD:
    return &c->record;
  case OPT_LANG:
    return &c->lang;
  case OPT_TZ:
    return &c->tz;
  case OPT_PORT:
    return &c->port;
  case OPT_NEW_PASS_FILE:
    return &c->new_pass_file;
  case OPT_FOR:
    return &c->for_dev;
  case OPT_ACK_OUT:
    return &c->ack_out;
  default:
    return NULL;
  }
}

int main(int argc, char **argv)
{
  /* First of all: no core file may ever hold what this process decrypts. */
  if (tk_process_no_core() != 0) {
    fprintf(stderr, "tunduk: cannot turn core dumps off\n");
    return 1;
  }
  static char home_buf[4096];
  cli_t c;
  const char *cmd = NULL;
  int want_help = 0;
  memset(&c, 0, sizeof c);
  /* tk_conn.h: a peer that resets the connection must not kill the
   * process with SIGPIPE; the write fails and the sync reports it. */
  signal(SIGPIPE, SIG_IGN);

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      want_help = 1;
      continue;
    }
    /* Before the command: the program's version. After it, --version N is
     * plugin publish's option. */
    if (!cmd && strcmp(a, "--version") == 0) {
      printf("tunduk %s\n", TK_VERSION);
      return EXIT_OK;
    }
    if (strcmp(a, "--home") == 0 || strcmp(a, "--passphrase-file") == 0) {
      if (i + 1 >= argc) return cli_usage("%s needs a value", a);
      if (a[2] == 'h')
        c.home = argv[++i];
      else
        c.pass_file = argv[++i];
      continue;
    }
    if ((strcmp(a, "--") != 0 && a[0] == '-' && a[1] == '-') || strcmp(a, "-o") == 0) {
      size_t k;
      for (k = 0; k < sizeof options / sizeof options[0]; k++)
        if (strcmp(a, options[k].name) == 0) break;
      if (k == sizeof options / sizeof options[0])
        return cli_usage("unknown option %s", a);
      c.seen |= options[k].opt;
      if (options[k].takes_value) {
        if (i + 1 >= argc) return cli_usage("%s needs a value", a);
        *option_slot(&c, options[k].opt) = argv[++i];
        if (options[k].opt == OPT_VAULT) {
          if (c.nvaults == sizeof c.vaults / sizeof c.vaults[0])
            return cli_usage("at most %zu --vault", sizeof c.vaults / sizeof c.vaults[0]);
          c.vaults[c.nvaults++] = argv[i];
        }
      } else if (options[k].opt == OPT_JSON) {
        c.json = 1;
      } else if (options[k].opt == OPT_AUTO) {
        c.autom = 1;
      } else if (options[k].opt == OPT_NO_RESUME) {
        c.no_resume = 1;
      } else if (options[k].opt == OPT_READ) {
        c.reader = 1;
      } else if (options[k].opt == OPT_SKIP_INVALID) {
        c.skip_invalid = 1;
      } else if (options[k].opt == OPT_AGAIN) {
        c.again = 1;
      } else if (options[k].opt == OPT_MOVE) {
        c.move = 1;
      } else if (options[k].opt == OPT_YES) {
        c.yes = 1;
      } else if (options[k].opt == OPT_UNDELETE) {
        c.undelete = 1;
      } else if (options[k].opt == OPT_NO_BROWSER) {
        c.no_browser = 1;
      } else {
        c.all = 1;
      }
      continue;
    }
    if (!cmd) {
      cmd = a;
    } else {
      if (c.nargs == CLI_MAX_ARGS) return cli_usage("too many arguments");
      c.args[c.nargs++] = a;
    }
  }
  if (!cmd && want_help) return help(stdout, NULL);
  if (!cmd) return help(stderr, NULL) ? EXIT_FAIL : EXIT_USAGE;
  const command_t *command = NULL;
  for (size_t k = 0; k < sizeof commands / sizeof commands[0]; k++)
    if (strcmp(cmd, commands[k].name) == 0) command = &commands[k];
  if (!command) return cli_usage("unknown command '%s'", cmd);
  if (c.seen & ~command->opts) {
    for (size_t k = 0; k < sizeof options / sizeof options[0]; k++)
      if (c.seen & ~command->opts & options[k].opt)
        return cli_usage("'%s' does not take %s", cmd, options[k].name);
  }
  if (want_help) return help(stdout, command);
  if (c.nargs < command->min_args) return cli_usage("'%s' needs more arguments", cmd);
  if (c.nargs > command->max_args) return cli_usage("too many arguments for '%s'", cmd);

  if (!c.home) c.home = getenv("TUNDUK_HOME");
  if (!c.home || !*c.home) c.home = default_home(home_buf, sizeof home_buf);
  if (!c.home) return cli_usage("no store folder: use --home DIR or set TUNDUK_HOME");
  tk_log_level = TK_LOG_WARN;
  if (tk_office_global_init() != 0) {
    fputs("tunduk: cannot initialise libsodium\n", stderr);
    return EXIT_FAIL;
  }
  int code = command->fn(&c);
  tk_office_close(c.office);
  return code;
}
