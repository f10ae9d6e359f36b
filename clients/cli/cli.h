/*
 * cli.h: what the files of the `tunduk` office command share: parsed
 * options, the opened office, input and output helpers, and one function
 * per command. Single-threaded.
 */
#ifndef TK_CLI_H
#define TK_CLI_H

#include <jansson.h>
#include <stdio.h>

#include "tk_office.h"

/* Exit codes: 0 done, 1 failed, 2 bad input or usage (nothing changed), 3
 * done in part (import --skip-invalid: rows were left out). */
enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2, EXIT_PARTIAL = 3 };
/* sync, status: something of this office has not reached the hub (refused
 * there, or not sent for want of write access); README, "Nothing stranded" */
enum { EXIT_STRANDED = 4 };

/* Options a command may accept (bit flags). */
enum {
  OPT_JSON = 1 << 0,
  OPT_VAULT = 1 << 1,
  OPT_TYPE = 1 << 2,
  OPT_REV = 1 << 3,
  OPT_NAME = 1 << 4,
  OPT_KDF = 1 << 5,
  OPT_ALL = 1 << 6,
  OPT_FORMAT = 1 << 7,
  OPT_REDACT = 1 << 8,
  OPT_OUTPUT = 1 << 9,
  OPT_AUTO = 1 << 10,
  OPT_NO_RESUME = 1 << 11,
  OPT_READ = 1 << 12,
  OPT_TIMEOUT = 1 << 13,
  OPT_MAP = 1 << 14,
  OPT_SKIP_INVALID = 1 << 15,
  OPT_AGAIN = 1 << 16,
  OPT_NEW_PASS_FILE = 1 << 17, /* passphrase --new-passphrase-file FILE */
  OPT_MOVE = 1 << 18,          /* enroll --move */
  OPT_YES = 1 << 19,           /* enroll --move --yes */
  OPT_UNDELETE = 1 << 20,      /* edit --undelete */
  OPT_VERSION = 1 << 21,       /* plugin publish --version N */
  OPT_RECORD = 1 << 22,        /* export --record ID */
  OPT_LANG = 1 << 23,          /* export --lang en|ru|ky */
  OPT_TZ = 1 << 24,            /* export --tz +HH:MM */
  OPT_PORT = 1 << 25,          /* ui --port N */
  OPT_NO_BROWSER = 1 << 26,    /* ui --no-browser */
  OPT_FOR = 1 << 27,           /* bundle create --for DEVICE-ID */
  OPT_ACK_OUT = 1 << 28,       /* bundle apply --ack-out FILE */
};

#define CLI_MAX_ARGS 8

typedef struct cli {
  const char *home;      /* resolved home folder */
  const char *pass_file; /* --passphrase-file */
  int json;
  int all;
  int autom;     /* --auto */
  int no_resume; /* --no-resume */
  int reader;    /* --read */
  const char *vault, *type, *rev, *name, *kdf;
  const char *format, *redact, *output; /* export */
  const char *record, *lang, *tz;       /* export --record, --lang, --tz */
  const char *timeout;                  /* sync --timeout SECONDS */
  const char *map;                      /* import --map FILE */
  int skip_invalid, again;              /* import */
  const char *new_pass_file;            /* passphrase --new-passphrase-file */
  int move, yes;                        /* enroll --move [--yes] */
  int undelete;                         /* edit --undelete */
  const char *set_version;              /* plugin publish --version N */
  const char *port;                     /* ui --port N */
  int no_browser;                       /* ui --no-browser */
  const char *for_dev, *ack_out;        /* bundle create --for, apply --ack-out */
  const char *vaults[16];               /* every --vault given, in order */
  size_t nvaults;
  int nargs;
  const char *args[CLI_MAX_ARGS]; /* positional arguments after the command */
  unsigned seen;                  /* OPT_* given on the command line */
  tk_office_t *office;
  tk_err_t err;
} cli_t;

/* Prints "tunduk: <msg>" to stderr and returns the exit code for rc. */
int cli_fail(cli_t *c, int rc);
/* Prints a usage error and returns EXIT_USAGE. */
int cli_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Opens the office at c->home (its unlock callback asks for the passphrase
 * when a call first needs the keys); with keys, unlocks it now. */
int cli_open(cli_t *c, int keys);
/* Reads the passphrase (file, $TUNDUK_PASSPHRASE, or the terminal; confirm
 * asks twice). *out is locked memory the caller frees with tk_secure_free. */
int cli_passphrase(cli_t *c, int confirm, char **out, size_t *len);

/* Reads a record body from a file or "-" (stdin) and parses it for writing
 * (tk_office_body_parse). */
int cli_read_body(cli_t *c, const char *path, json_t **out);

/* A failed write of a record: every validation problem on its own line
 * ("tunduk: <type> record invalid: <problem>"), and with --json
 * {"error", "problems": [{field, message}]} on stdout; else as cli_fail. */
int cli_fail_problems(cli_t *c, int rc, const tk_office_problems_t *p);

/* Short printed device id: the first two groups, e.g. "ABCD-EFGH". */
void cli_device_short(char out[16], const char *id);
/* Writes a JSON value to stdout (indented) followed by a newline. */
int cli_print_json(const json_t *v);

int cmd_init(cli_t *c);
int cmd_whoami(cli_t *c);
int cmd_vault(cli_t *c);
int cmd_new(cli_t *c);
int cmd_edit(cli_t *c);
int cmd_delete(cli_t *c);
int cmd_show(cli_t *c);
int cmd_list(cli_t *c);
int cmd_history(cli_t *c);
int cmd_verify(cli_t *c);
int cmd_enroll(cli_t *c);
int cmd_sync(cli_t *c);
int cmd_status(cli_t *c);
int cmd_vault_grant(cli_t *c);
int cmd_vault_remove(cli_t *c);
int cmd_conflicts(cli_t *c);
int cmd_resolve(cli_t *c);
int cmd_bundle(cli_t *c);
int cmd_quarantine(cli_t *c);
int cmd_export(cli_t *c);
int cmd_plugin(cli_t *c);
int cmd_attach(cli_t *c);
int cmd_attachments(cli_t *c);
int cmd_get(cli_t *c);
int cmd_import(cli_t *c);
int cmd_passphrase(cli_t *c);
int cmd_config(cli_t *c);
int cmd_ui(cli_t *c);

#endif
