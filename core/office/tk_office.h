/*
 * tk_office.h: the office API, the one engine header a front end (the
 * `tunduk` CLI now, the web UI next) includes. An office is a home folder
 * opened for work: its identity, its store, the vault keys it holds and its
 * plugins. Every rule about records lives behind these calls (validation
 * with every problem returned, attachments kept out of input and carried
 * over on edit, attachment keys never shown, "already deleted", "not in
 * conflict", "token for another hub"), so front ends only parse their input
 * and present results. Nothing here prints: results are structs or json_t
 * (the caller decrefs what it is handed), failures a tk_err_t whose message
 * names the record (as the caller named it), the field or the file. The
 * engine's own calls (ids instead of prefixes, the store, membership logs)
 * are in tk_office_engine.h, for the engine only.
 *
 * Home folder: its files and their paths are tk_office_home.h's.
 *
 * Threads: one tk_office_t is used by one thread at a time; the calls that
 * take only a home folder may run on any thread.
 */
#ifndef TK_OFFICE_H
#define TK_OFFICE_H

#include <jansson.h>

#include "tk_common.h"

typedef struct tk_office tk_office_t;

/* ---- the process and the home folder --------------------------------------- */

/* Once per process before any other call: the crypto library. 0 or TK_ECRYPTO. */
int tk_office_global_init(void);

/* Argon2id strength of a new key file (tk_identity.h's levels). */
enum {
  TK_OFFICE_KDF_INTERACTIVE = 0,
  TK_OFFICE_KDF_MODERATE = 1,
  TK_OFFICE_KDF_SENSITIVE = 2
};
/* "interactive", "moderate", "sensitive" -> *level; TK_EINVAL otherwise. */
int tk_office_kdf_parse(const char *s, int *level);

/* Creates a home folder with a new identity and an empty store. Refuses
 * (TK_EEXIST) if home already holds a key file or a store. */
int tk_office_create(const char *home, const char *name, const char *pass, size_t passlen,
                     int kdf_level, tk_err_t *err);
/* Opens home: the public half of the identity and the store. TK_ENOTFOUND
 * with a message naming home when there is no tunduk store there. */
int tk_office_open(tk_office_t **out, const char *home, tk_err_t *err);
/* Decrypts the private keys (TK_EPASS on a wrong passphrase). */
int tk_office_unlock(tk_office_t *o, const char *pass, size_t passlen, tk_err_t *err);
/* Wipes keys and closes everything; NULL is a no-op. Uploads and downloads
 * still open fail from then on (close them after: they touch no office). */
void tk_office_close(tk_office_t *o);
/* Locks the office again and leaves it open: the private keys, every
 * vault key in the cache and the attachment key of every upload and
 * download in progress are wiped (those then fail with TK_EPASS), so the
 * next call that needs keys goes through the unlock callback (or fails
 * TK_EPASS "the office is locked" without one). Calls that need no keys
 * (listings of ids, status, settings) go on working. Not while a sync of
 * o runs (the caller waits for it). 0; TK_EINVAL for NULL. */
int tk_office_lock(tk_office_t *o);
/* 1 while the private keys are not in memory (opened, or locked again). */
int tk_office_locked(const tk_office_t *o);

/* A passphrase from file (a path, or NULL), else the environment variable
 * env, else the terminal (confirm: asked twice), the prompt naming label.
 * *out is locked memory freed with tk_office_secret_free. TK_EINVAL, with
 * how to give one, when none can be had. */
int tk_office_passphrase(const char *file, const char *env, const char *label,
                         int confirm, char **out, size_t *len, tk_err_t *err);
/* Wipes and frees what tk_office_passphrase returned; NULL is a no-op. */
void tk_office_secret_free(char *p);

/* This device: its printed id (52 base32 characters in groups) and name. */
void tk_office_device_id(const tk_office_t *o, char out[TK_DEVICE_ID_STRLEN]);
const char *tk_office_device_name(const tk_office_t *o);
/* Whether s is a printed device id (what tk_office_device_id writes). */
int tk_office_device_id_valid(const char *s);
/* The same check with what is wrong, for a message: TK_EINVAL "'<s>' is
 * not a device id: character 17 ('0') is not base32 (A-Z, 2-7)" (or the
 * count of characters, or a last character that cannot end an id). */
int tk_office_device_id_check(const char *s, tk_err_t *err);

/* ---- changing the passphrase (office.c) ----------------------------------
 * The key file (device.key) is the only thing sealed under the passphrase. */

/* A new passphrase: from file (a path), else the terminal ("New passphrase
 * for LABEL: ", asked twice), never the environment; at least 8 bytes.
 * TK_EINVAL naming file_opt when there is neither. *out as for
 * tk_office_passphrase. */
int tk_office_passphrase_new(const char *file, const char *file_opt, const char *label,
                             char **out, size_t *len, tk_err_t *err);
/* Re-encrypts the key file under pass: unlocks o first if it is locked (the
 * unlock callback: a wrong old passphrase is TK_EPASS and nothing is
 * written), then writes the file under the same key derivation strength as
 * it had (kdf_level < 0) or TK_OFFICE_KDF_*: to device.key.tmp, fsynced,
 * renamed over device.key, the folder fsynced. A crash leaves the old file
 * or the new one whole (and perhaps device.key.tmp, which the next change
 * removes). The old passphrase no longer opens it. TK_EBUSY if another
 * change of the same home is running. */
int tk_office_passphrase_change(tk_office_t *o, const char *pass, size_t passlen,
                                int kdf_level, tk_err_t *err);

/* ---- vaults (office.c, office_vaults.c) --------------------------------------- */

/* Creates a vault with a fresh random key sealed to this device. Needs the
 * keys (the unlock callback). TK_EEXIST "vault '<name>' already exists". */
int tk_office_vault_create(tk_office_t *o, const char *name, tk_err_t *err);
/* The vaults as JSON, by name: [{name, vault_id ("-" before a membership
 * log), key_id, created, have_key, role ("writer", "reader", "not a
 * member", "-"), log_entries, granted_by: [{device, name, creator}] (the
 * verified chain behind the key in use: who granted it, who added that
 * device, ... back to the vault's creator), keys: [{key_id, current,
 * since_entry, granted_by}] (every key of the vault this device holds),
 * members: [{device, name ("" when unknown), role ("writer", "reader",
 * "removed"), self, keys: [key_id, ...]}] (every member of the verified
 * log: the keys the log gave it, each key then in use when it was added
 * and each rotation's while it was a member; for this device the keys it
 * holds)}]. */
int tk_office_vaults(tk_office_t *o, json_t **out, tk_err_t *err);
/* The devices this office knows, as JSON: this device, the members of its
 * vaults' verified membership logs, the authors of the revisions it holds,
 * and the devices the hub lets into its vaults (their checked identities,
 * with the names the hub gives; "vaults" lists only what the logs and the
 * authors say): [{device (printed id), name ("" when unknown), self, vaults:
 * [{vault, role ("writer", "reader", "removed" in the log; "not a member"
 * for an author the vault's log does not list; "-": a vault without a
 * log)}]}], this device first, then named ones by name. Needs no keys. */
int tk_office_devices(tk_office_t *o, json_t **out, tk_err_t *err);

/* ---- settings (office_settings.c) ------------------------------------------------
 *
 * The settings a person changes, kept in the store: a fixed allow-list.
 *   organisation     the organisation's name, shown in report headers: 1 to
 *                    TK_OFFICE_ORGANISATION_MAX bytes of UTF-8, no control
 *                    characters (default "": none)
 *   ui_idle_minutes  minutes without use after which the web UI locks, 1..480
 *                    (default 15)
 *   ui_language      the web UI's language: "en", "ru" or "ky" (default "en") */
#define TK_OFFICE_ORGANISATION_MAX 200
#define TK_OFFICE_IDLE_MIN 1
#define TK_OFFICE_IDLE_MAX 480
#define TK_OFFICE_SETTING_MAX 200 /* bytes of any setting's value */
/* The value of key (its default when unset) into out: 0; TK_EINVAL for a
 * key not in the list, TK_ELIMIT when cap is too small. Needs no keys. */
int tk_office_setting_get(tk_office_t *o, const char *key, char *out, size_t cap);
/* Sets key to value after its check: TK_EINVAL "no setting 'x'; the
 * settings are: ..." or naming what is wrong with the value; nothing
 * written then. Needs no keys. */
int tk_office_setting_set(tk_office_t *o, const char *key, const char *value,
                          tk_err_t *err);
/* The i-th key of the list (from 0), NULL past the end. */
const char *tk_office_setting_name(size_t i);

/* ---- records (office_forms.c, office_records.c) ------------------------------
 *
 * What a front end (the CLI, the web UI) needs, with every rule about
 * records kept here and nothing printed: results come back as structs or
 * json_t, failures as tk_err_t whose message names the record (as the
 * caller gave it) or the field. Records are named by their id or an id
 * prefix as a string (at least 4 hex digits). Calls that need the private
 * keys unlock the office through the unlock callback (below) at the point
 * they first need them, after every check of the input passed, so bad input
 * never asks for a passphrase. Threads: as tk_office_t, one at a time. */

/* Called when a call needs the private keys and the office is locked; it
 * unlocks o (tk_office_unlock) or fails with err set. Without one such a call
 * fails with TK_EPASS "the office is locked". */
typedef int (*tk_office_unlock_fn)(void *ctx, tk_office_t *o, tk_err_t *err);
void tk_office_set_unlock(tk_office_t *o, tk_office_unlock_fn fn, void *ctx);
/* Unlocks now (through the callback) if the office is locked. */
int tk_office_need_keys(tk_office_t *o, tk_err_t *err);

/* One validation problem: field is where (the field's name, or a place in
 * a list: "hearings[2].date", 1-based; "" for a problem of the whole
 * record), message the reason with the field named, e.g. "field 'status'
 * is required", "field 'hearings' item 2: 'date' must be a date
 * YYYY-MM-DD". A plugin's validate() refusal names its field when its
 * reason starts "field 'X'" or it returns a list of problems. */
#define TK_OFFICE_MAX_PROBLEMS 32
typedef struct tk_office_problem {
  char field[160];
  char message[256];
} tk_office_problem_t;
typedef struct tk_office_problems {
  size_t n; /* the first TK_OFFICE_MAX_PROBLEMS are kept; more is a truncation */
  tk_office_problem_t v[TK_OFFICE_MAX_PROBLEMS];
} tk_office_problems_t;

/* Checks body as a record of content type `type`: every declared field
 * and every field the type does not declare (refused unless the type has
 * extra_fields or declares none; the engine's own "_attachments" and
 * "_deleted" pass), each problem kept, not only the first; then, if the
 * declared ones pass, the plugin's validate() (its refusal one more
 * problem). 0 if valid; TK_EINVAL with problems (may be NULL)
 * filled and err = "<type> record invalid: <first problem>"; TK_EINVAL
 * "no content type '<type>'; ..." if no plugin declares it; the plugin's
 * failure as "<type> record not checked: ...". Tombstones are not content:
 * callers skip them. */
int tk_office_check(tk_office_t *o, const char *type, const json_t *body,
                    tk_office_problems_t *problems, tk_err_t *err);

/* The listing line of a record: its content type's summary(), cut to 256
 * bytes (never inside a UTF-8 character), else the generic one
 * (tk_body_summary); at most n-1 bytes. Never fails (an empty line at
 * worst). */
void tk_office_summary(tk_office_t *o, const char *type, const json_t *body, char *out,
                       size_t n);

/* The content type's form as JSON: {"type": T, "plugin": "case.lua",
 * "label": the English label, "labels": {"en", "ru", "ky"}, "validate": b,
 * "summary": b, "merge": b, "extra_fields": b (undeclared fields allowed),
 * "fields": [{"name", "kind" ("text", "date", "datetime", "enum",
 * "integer", "boolean", "list", "ref"), "required", "label", "labels",
 * "values" and "value_labels" {value: {"en", "ru", "ky"}} (enum),
 * "ref_type" (ref: the type it points to, when declared), "items" (list,
 * when declared: {"kind", ...}; kind "object" with "fields" as these)}]},
 * fields in the type's `order`, the rest by name. Every "labels" has all
 * three languages: one the plugin left out is the English label; without
 * a label, the name with '_' as spaces and its first letter upper case.
 * TK_ENOTFOUND if no plugin declares type. *out: the caller decrefs. */
int tk_office_form_schema(tk_office_t *o, const char *type, json_t **out, tk_err_t *err);
/* The names of the content types the office's plugins declare, as a JSON
 * array of strings in load order. */
int tk_office_types(tk_office_t *o, json_t **out, tk_err_t *err);
/* The same with their labels: [{"type", "label", "labels": {"en", "ru",
 * "ky"}}] (as in the form schema). *out: the caller decrefs. */
int tk_office_type_labels(tk_office_t *o, json_t **out, tk_err_t *err);

/* Parses a record body from JSON text for writing: a JSON object within the
 * body limits, without the field tunduk keeps ("_attachments": TK_EINVAL,
 * "<source>: the field ... remove it from the input"). source names the
 * input in messages (a path, "stdin"). *out: the caller decrefs. */
int tk_office_body_parse(const char *text, size_t len, const char *source, json_t **out,
                         tk_err_t *err);

/* Checks a name a front end was given: kind "type" (a content type name),
 * "vault" (a vault name; dots allowed) or "attachment" (an attachment's
 * file name): TK_EINVAL naming what is wrong. */
int tk_office_name_check(const char *kind, const char *name, tk_err_t *err);
/* Formats hlc milliseconds as UTC "YYYY-MM-DDTHH:MM:SSZ". */
void tk_office_time_format(char out[32], uint64_t ms);

/* Resolves a record id or prefix: TK_ENOTFOUND "no record with id '<s>'",
 * TK_EAMBIG "record id '<s>' is ambiguous; give more digits". */
int tk_office_record_find(tk_office_t *o, const char *record,
                          uint8_t id[TK_RECORD_ID_LEN], tk_err_t *err);

/* Writes a new record of type in vault after every check (type and vault
 * named well, the vault exists, not a tombstone, valid: problems as
 * tk_office_check). rec_hex gets the new record's id. */
int tk_office_record_new(tk_office_t *o, const char *type, const char *vault,
                         const json_t *body, tk_office_problems_t *problems,
                         char rec_hex[2 * TK_RECORD_ID_LEN + 1], tk_err_t *err);
/* The same, rev_hex getting the new record's first revision id. */
int tk_office_record_new_rev(tk_office_t *o, const char *type, const char *vault,
                             const json_t *body, tk_office_problems_t *problems,
                             char rec_hex[2 * TK_RECORD_ID_LEN + 1],
                             char rev_hex[2 * TK_REV_ID_LEN + 1], tk_err_t *err);
/* A new revision of record over its winner: body checked as the record's
 * type (a tombstone is refused: delete is the way), the record's
 * attachments carried over (the input cannot name them). *nheads gets how
 * many heads the record had (> 1: the others remain in conflict). */
int tk_office_record_edit(tk_office_t *o, const char *record, const json_t *body,
                          tk_office_problems_t *problems,
                          char rev_hex[2 * TK_REV_ID_LEN + 1], uint32_t *nheads,
                          tk_err_t *err);
/* A deleted record (every head a tombstone) is not edited by
 * tk_office_record_edit (TK_EINVAL "record <record> is deleted; ...
 * --undelete ..."): tk_office_record_undelete writes body over its winner
 * and brings it back (on a live record it is an edit). Both refuse fields
 * the content type does not declare unless the record already holds them
 * (another office's plugins may declare them) or the type allows extra
 * fields. */
int tk_office_record_undelete(tk_office_t *o, const char *record, const json_t *body,
                              tk_office_problems_t *problems,
                              char rev_hex[2 * TK_REV_ID_LEN + 1], uint32_t *nheads,
                              tk_err_t *err);
/* A tombstone over the winner; TK_EEXIST "record <record> is already
 * deleted". */
int tk_office_record_delete(tk_office_t *o, const char *record,
                            char rev_hex[2 * TK_REV_ID_LEN + 1], uint32_t *nheads,
                            tk_err_t *err);
/* A merge revision over every head of a record in conflict (TK_EINVAL
 * "record <record> is not in conflict; use 'tunduk edit'"): body (checked
 * unless a tombstone), or with body NULL the content type's merge()
 * (TK_EPLUGIN "automatic merge declined: ...; resolve by hand"). */
int tk_office_record_resolve(tk_office_t *o, const char *record, const json_t *body,
                             tk_office_problems_t *problems,
                             char rev_hex[2 * TK_REV_ID_LEN + 1], tk_err_t *err);

/* What tk_office_record_resolve with body NULL would write for a record in
 * conflict, without writing anything: 0 and *body (the caller decrefs;
 * without "_attachments": resolve carries every head's attachments over),
 * or 0, *body NULL and declined (cap bytes) the reason when the content
 * type has no merge(), its merge() declined, or the result is not a valid
 * record. TK_EINVAL "record <record> is not in conflict ...", the find
 * errors, the plugin's failure otherwise. Needs the keys. */
int tk_office_merge_preview(tk_office_t *o, const char *record, json_t **body,
                            char *declined, size_t cap, tk_err_t *err);

/* A record as a reader sees it (tk_office_record_show). */
typedef struct tk_office_view {
  json_t *body;        /* decrypted, attachment keys and chunk ids removed */
  json_t *attachments; /* [{name, size, sha256, ...}] without keys; never NULL */
  json_t *meta;        /* {revision, record, type, vault, author, time, hlc,
                          generation, seq, parents} */
  json_t *heads;       /* [hex rev ids], winner first */
  size_t nheads;
  int deleted;
  uint32_t chunks_missing, chunks_total; /* attachments not all here yet */
  uint32_t refused;                      /* revisions kept aside by the log */
  int not_winner;                        /* shown is not the store's winner */
} tk_office_view_t;
/* The record's current version (tk_office_current), or its revision rev
 * (an id or prefix; NULL: current), decrypted, without keys. */
int tk_office_record_show(tk_office_t *o, const char *record, const char *rev,
                          tk_office_view_t *v, tk_err_t *err);
void tk_office_view_free(tk_office_view_t *v);

/* One line of a listing. */
typedef struct tk_office_listing {
  char id[2 * TK_RECORD_ID_LEN + 1];
  char type[TK_MAX_TYPE_LEN + 1];
  char vault[TK_MAX_VAULT_LEN + 1];
  uint64_t hlc; /* the winner's */
  uint32_t nheads;
  int deleted, readable, incomplete;
  uint32_t refused;
  char summary[257];                  /* tk_office_summary: at most 256 bytes */
  char winner[2 * TK_REV_ID_LEN + 1]; /* the revision shown (hex) */
  /* the winner's decrypted body (attachment keys included: never show it
   * as is) when readable here, else NULL; valid during the callback only */
  const json_t *body;
} tk_office_listing_t;
/* The records (type, vault: filters, NULL = all), newest first, each with
 * its summary; deleted ones only with all. cb returns non-zero to stop. */
int tk_office_list(tk_office_t *o, const char *type, const char *vault, int all,
                   int (*cb)(void *ctx, const tk_office_listing_t *l), void *ctx,
                   tk_err_t *err);

/* A number that changes whenever the office's store may have changed (a
 * write here, a sync, another process writing the same store): a front
 * end's cache of listings is good while it stays the same. */
uint64_t tk_office_data_version(tk_office_t *o);

/* A revision in a record's history, with its author's name when known. */
typedef struct tk_office_history_entry {
  const json_t *meta;      /* as tk_office_view_t's meta */
  const char *author_name; /* "" when this office does not know the device */
  int author_known;
} tk_office_history_entry_t;
int tk_office_history(tk_office_t *o, const char *record,
                      int (*cb)(void *ctx, const tk_office_history_entry_t *h), void *ctx,
                      tk_err_t *err);

/* A record in conflict (tk_office_conflicts). */
typedef struct tk_office_conflict {
  const char *id, *type, *vault, *winner; /* hex ids */
  const json_t *heads;                    /* [hex rev ids], winner first */
  uint32_t nheads;                        /* all of them (heads: at most 64) */
} tk_office_conflict_t;
/* The records with more than one head (type, vault: filters or NULL); cb
 * returns non-zero to stop. */
int tk_office_conflicts(tk_office_t *o, const char *type, const char *vault,
                        int (*cb)(void *ctx, const tk_office_conflict_t *c), void *ctx,
                        tk_err_t *err);

/* Pulled revisions held back by moderation, as JSON: [{revision, record,
 * type, vault, author, reason}]. */
int tk_office_quarantine_list(tk_office_t *o, json_t **out, tk_err_t *err);
/* Lets a held revision in (release) or drops it; rev is a prefix. rev_hex
 * gets the full id. */
int tk_office_quarantine_release(tk_office_t *o, const char *rev,
                                 char rev_hex[2 * TK_REV_ID_LEN + 1], tk_err_t *err);
int tk_office_quarantine_drop(tk_office_t *o, const char *rev,
                              char rev_hex[2 * TK_REV_ID_LEN + 1], tk_err_t *err);

/* ---- bulk import (office_import.c) --------------------------------------------
 *
 * Records from a spreadsheet or an older database: a CSV file (RFC 4180, a
 * header row naming the columns; tk_csv.h) or JSON Lines (one object per
 * line, blank lines skipped), every row a new record of one content type in
 * one vault, each written exactly as tk_office_record_new writes one (a
 * signed, encrypted revision), after the same checks.
 *
 * Two passes over the file. The first converts and checks every row (the
 * declared fields, then the content type's validate(), in batches through
 * the plugin worker) and reports each rejected row through opts->reject;
 * nothing is written. If a row was rejected and skip_invalid is not set,
 * the import stops there: TK_EINVAL, nothing written. Otherwise the second
 * pass reads the file again and writes the accepted rows in transactions of
 * TK_OFFICE_IMPORT_BATCH records; a row whose record differs from what the
 * first pass checked (the file changed) stops it before that batch.
 *
 * Progress is kept in the store with each batch (setting "import/<key>",
 * the key a hash of the file's SHA-256, the type, the vault and the map's
 * SHA-256): an interrupted import leaves whole batches, and running the
 * same import again writes only the rows after the last whole batch. An
 * import that finished is refused (TK_EEXIST) unless again is set, which
 * imports every row once more (duplicates).
 *
 * Conversion: without a map, columns (or JSON keys) are field names as
 * they are; a map (a JSON object) renames them: {"Case No": "case_number",
 * "Opened": {"field": "opened", "type": "date"}, "Old id": null} (null:
 * leave the column out). A CSV cell becomes the JSON type its field's kind
 * asks for (integer, boolean, list; the others text), or the map's "type":
 * "text", "integer", "boolean", "date" (YYYY-MM-DD, DD.MM.YYYY or
 * DD/MM/YYYY, written YYYY-MM-DD), "list" (a JSON array, or items
 * separated by ';') or "json" (any JSON value). An empty cell leaves the
 * field out. JSON Lines values stay as they are, except a string given a
 * map "type". A map naming a column the file does not have, or a field
 * the content type does not declare, is an error naming it. */

#define TK_OFFICE_IMPORT_MAX_ROWS 1000000u   /* rows of one file */
#define TK_OFFICE_IMPORT_MAX_LINE (1u << 20) /* bytes of a line (CSV: a record) */
#define TK_OFFICE_IMPORT_MAX_MAP (64u << 10) /* bytes of a map file */
#define TK_OFFICE_IMPORT_BATCH 1000u         /* records per write transaction */

/* One problem of a rejected row (a row may have several). */
typedef struct tk_office_import_reject {
  uint64_t line;        /* where the row starts */
  int column;           /* CSV: the 1-based column; 0 when no one column */
  char column_name[64]; /* CSV: its header; else "" */
  char field[160];      /* the record field ("hearings[2].date"); "" for the record */
  char message[400];    /* the reason, the field named */
} tk_office_import_reject_t;

typedef struct tk_office_import_result {
  char format[8];          /* "csv" or "jsonl" */
  char sha256[65];         /* the file's, hex */
  uint64_t rows;           /* rows read (blank lines not counted) */
  uint64_t rejected;       /* rows rejected */
  uint64_t problems;       /* problems reported (opts->reject calls) */
  uint64_t written;        /* records written by this run */
  uint64_t resumed;        /* accepted rows an earlier, interrupted run wrote */
  uint64_t batches;        /* transactions committed */
  double check_s, write_s; /* the two passes' wall time */
} tk_office_import_result_t;

typedef struct tk_office_import_opts {
  const char *type, *vault;
  const char *path;   /* the file */
  const char *format; /* "csv", "jsonl"; NULL: by the extension (.csv, .jsonl, .ndjson) */
  const char *map;    /* the map file, or NULL */
  int skip_invalid;   /* write the accepted rows even if some were rejected */
  int again;          /* import a file this store already imported */
  uint64_t max_rows;  /* 0: TK_OFFICE_IMPORT_MAX_ROWS (may only be lower) */
  void (*reject)(void *ctx, const tk_office_import_reject_t *r);
  void *ctx;
} tk_office_import_opts_t;

/* Imports opts->path as above. 0 when every accepted row is written (with
 * skip_invalid, r->rejected may be > 0); TK_EINVAL "N of M rows rejected;
 * nothing written" without it; TK_EFORMAT / TK_ELIMIT for a file that
 * cannot be read as a whole ("FILE:LINE[, column C]: ..."), nothing
 * written; TK_EEXIST for a finished import without again; the type, vault
 * and map errors as TK_EINVAL / TK_ENOTFOUND. Needs the keys for the second
 * pass only. r is filled in every case. */
int tk_office_import(tk_office_t *o, const tk_office_import_opts_t *opts,
                     tk_office_import_result_t *r, tk_err_t *err);

/* ---- attachments (office_attach.c) -------------------------------------------- */

/* Attaches the file at path to record under name (NULL: the file's base
 * name), a new revision over the winner; rev_hex gets it. TK_EINVAL for a
 * bad name, TK_EEXIST if it is taken, TK_ELIMIT past the limits. */
int tk_office_record_attach(tk_office_t *o, const char *record, const char *path,
                            const char *name, char rev_hex[2 * TK_REV_ID_LEN + 1],
                            tk_err_t *err);
/* The attachments of record's winner as JSON, without keys: [{name, size,
 * sha256 (hex), chunks, chunks_here, complete}]. */
int tk_office_attachments(tk_office_t *o, const char *record, json_t **out,
                          tk_err_t *err);
/* Decrypts attachment name of record's winner to the file out ("-":
 * stdout), every chunk and the whole file's hash checked. TK_ENOTFOUND
 * "record <record> has no attachment named '<name>' ...", TK_EPENDING
 * when chunks have not arrived yet. */
int tk_office_attachment_get(tk_office_t *o, const char *record, const char *name,
                             const char *out, tk_err_t *err);

/* ---- attachments in pieces (office_transfer.c) ---------------------------------
 *
 * For a front end that receives or serves a file over a connection (the web
 * UI's upload and download). An upload is encrypted chunk by chunk as it
 * arrives (tk_attach.h's format, a fresh key in locked memory) into a
 * temporary file of ciphertext under HOME/uploads that has no name on disk;
 * nothing reaches the store before finish, which stores the chunks and the
 * new revision in one transaction. A cut upload (abort, a lost connection,
 * a killed process) leaves the store exactly as it was. */
typedef struct tk_office_upload tk_office_upload_t;
/* Starts an upload of size bytes to record under name. Every check comes
 * first, before anything is made: the name (tk_office_name_check), the
 * record, that this device may write its vault (tk_office_write_allowed
 * and the membership log), size against what the record has room for
 * (TK_ELIMIT), then with the keys (the unlock callback) that the record is
 * not deleted (TK_EINVAL), has no attachment of that name (TK_EEXIST) and
 * fewer than the most attachments (TK_ELIMIT). *out: finish or abort it. */
int tk_office_upload_begin(tk_office_t *o, const char *record, const char *name,
                           uint64_t size, tk_office_upload_t **out, tk_err_t *err);
/* The next n bytes (any piece size). More bytes than announced: TK_ELIMIT.
 * After a failure only abort is left (finish fails, stores nothing). */
int tk_office_upload_write(tk_office_upload_t *up, const void *p, size_t n,
                           tk_err_t *err);
/* Bytes taken so far (for progress). */
uint64_t tk_office_upload_received(const tk_office_upload_t *up);
/* Ends the upload and frees up in every case. The bytes received must be
 * the size announced (TK_EINVAL "... brought X of the N bytes it
 * announced; nothing stored"); then one transaction stores the chunks
 * (each read back and checked) and a new revision over the winner with the
 * attachment, as tk_office_record_attach does (its rules checked again:
 * the record may have changed meanwhile). rev_hex gets the revision. A
 * lock meanwhile: TK_EPASS, nothing stored. */
int tk_office_upload_finish(tk_office_upload_t *up, char rev_hex[2 * TK_REV_ID_LEN + 1],
                            tk_err_t *err);
/* Drops an upload: the temporary file and the key go, nothing is stored.
 * NULL is a no-op. */
void tk_office_upload_abort(tk_office_upload_t *up);

/* A download of one attachment of a record's winner. open: TK_ENOTFOUND as
 * tk_office_attachment_get, TK_EPENDING when chunks have not arrived yet
 * (checked here, before any byte); *size gets the file's size. Needs the
 * keys (the unlock callback). */
typedef struct tk_office_download tk_office_download_t;
int tk_office_attachment_open(tk_office_t *o, const char *record, const char *name,
                              tk_office_download_t **out, uint64_t *size, tk_err_t *err);
/* Up to cap bytes into buf (*n of them; 0 at the end), decrypted chunk by
 * chunk, each chunk's hash, tag and position checked, and before the last
 * chunk's bytes the whole file's SHA-256: TK_EHASH / TK_ETAG on damage
 * (the caller must then drop what it sent: cut the connection). A lock
 * meanwhile: TK_EPASS. */
int tk_office_attachment_read(tk_office_download_t *d, void *buf, size_t cap, size_t *n,
                              tk_err_t *err);
/* Wipes and frees; NULL is a no-op. */
void tk_office_attachment_close(tk_office_download_t *d);

/* ---- checking the store (office_verify.c) -------------------------------------- */

/* Verification of the whole store: every revision's hash, signature, tag
 * (when this device holds the vault key) and parent links, and that the
 * indexed fields match the signed header. cb is called for each failure
 * with the revision id and a message; counts are filled in. Returns 0 when
 * nothing failed, TK_EHASH/... of the first failure otherwise. */
typedef struct tk_verify_counts {
  uint64_t revisions, ok, failed, no_key, records;
  uint64_t chunks, bad_chunks; /* attachment chunks re-hashed, and failures */
} tk_verify_counts_t;
int tk_office_verify(tk_office_t *o,
                     void (*cb)(void *ctx, const uint8_t id[TK_REV_ID_LEN],
                                const char *msg),
                     void *ctx, tk_verify_counts_t *counts, tk_err_t *err);

/* ---- export (office_plugins.c) ------------------------------------------------- */

#define TK_OFFICE_MAX_REDACT 64 /* fields named by one --redact */

typedef struct tk_office_export_opts {
  const char *format;        /* export format name */
  const char *type, *vault;  /* filters; NULL = all */
  const char *const *redact; /* top-level fields removed; NULL-terminated or NULL */
  /* Only these records (ids or prefixes, NULL-terminated, at most
   * TK_OFFICE_EXPORT_MAX_RECORDS), still filtered by type and vault; NULL:
   * every record. One that does not resolve: TK_ENOTFOUND / TK_EAMBIG. */
  const char *const *records;
  /* The export's third argument, info (plugins/PLUGINS.md): the language of
   * its labels ("en", "ru", "ky"; NULL: "en"; another: TK_EINVAL), minutes
   * east of UTC for local times (|tz_offset_min| <= 14 * 60, else TK_EINVAL)
   * and the organisation's name (NULL: the office's setting
   * "organisation", if set). */
  const char *lang;
  int tz_offset_min;
  const char *organisation;
} tk_office_export_opts_t;

#define TK_OFFICE_EXPORT_MAX_RECORDS 10000
#define TK_OFFICE_TZ_MAX_MIN (14 * 60)

/* The records of a case's report (office_report.c): *ids (caller decrefs)
 * a JSON array of full record ids, case_id's own first, then every current
 * record whose "related_case" is the case's id, and every record the case
 * lists in "appeals" or "testimonies" that this office holds, oldest first.
 * Deleted records are left out; records of vaults without a key here are
 * not read (their related_case is unknown). A record of another type than
 * "case": its own id alone. Errors: the id as tk_office_record_find;
 * TK_EINVAL if it is deleted; needs the keys. For opts.records of a
 * case's report. */
int tk_office_report_records(tk_office_t *o, const char *case_id, json_t **ids,
                             tk_err_t *err);

typedef struct tk_office_export_stats {
  uint64_t records; /* handed to the plugin */
  uint64_t no_key;  /* skipped: this device holds no key for their vault */
} tk_office_export_stats_t;

/* Where an export's bytes go: 0, or a failure that stops the export. */
typedef int (*tk_office_write_fn)(void *ud, const void *p, size_t n);

/* Whether the plugins of the office at home declare export format: 0, or
 * TK_EINVAL "no export format '<format>'; see 'tunduk plugin list'" (or the
 * plugins' failure to load). For a front end to check before it asks for a
 * passphrase or makes the output file. */
int tk_office_export_check(const char *home, const char *format, tk_err_t *err);
/* Streams the current records through export opts->format to write (see
 * tk_office_export in tk_office_plugins.h: what no export may carry is
 * removed in C first). Needs the keys (the unlock callback). */
int tk_office_export_run(tk_office_t *o, const tk_office_export_opts_t *opts,
                         tk_office_write_fn write, void *ud,
                         tk_office_export_stats_t *stats, tk_err_t *err);

/* ---- plugins (office_plugins_api.c) --------------------------------------------- */

/* The plugins of the office at home as JSON: {folder, plugins: [{name,
 * kind ("content type", "export", "moderation"), file, media_type (exports),
 * fields: [{name, kind, required, values}], validate, summary, merge
 * (content types)}], errors: [the load errors]}. Where each comes from:
 * layers: [{name ("bundled", "set", "home"), folder, present}] lowest
 * first, and each plugin's from (its layer), path, overrides (the lower
 * layer whose file of that name it replaces, if any) and kept (true when
 * its file failed and another version runs: see errors). */
int tk_office_plugin_list(const char *home, json_t **out, tk_err_t *err);

/* A run of sample records through a plugin (tunduk plugin test). */
typedef struct tk_office_plugin_test tk_office_plugin_test_t;
/* Loads the office folder's plugins with which: a path to a .lua file (in
 * place of the folder's plugin of that file name) or the name of a loaded
 * plugin, content type or export. *notes gets the load errors of the other
 * plugins (a JSON array of strings; the caller decrefs). TK_ENOTFOUND "no
 * plugin '<which>' in <folder> ...". */
int tk_office_plugin_test_open(tk_office_plugin_test_t **out, const char *home,
                               const char *which, json_t **notes, tk_err_t *err);
/* The plugin's file name and the content type it declares first (or NULL). */
const char *tk_office_plugin_test_plugin(const tk_office_plugin_test_t *t);
const char *tk_office_plugin_test_type(const tk_office_plugin_test_t *t);

enum {
  TK_SAMPLE_BLANK = 0,     /* a blank line: nothing to say */
  TK_SAMPLE_BAD_JSON,      /* not JSON (message: the parser's, column) */
  TK_SAMPLE_NOT_OBJECT,    /* JSON, not an object */
  TK_SAMPLE_NO_TYPE,       /* no "type" and the plugin declares none */
  TK_SAMPLE_INVALID,       /* refused by validation (message) */
  TK_SAMPLE_NO_SUCH_TYPE,  /* its type is declared by no plugin */
  TK_SAMPLE_ERROR,         /* the plugin failed (message) */
  TK_SAMPLE_OK,            /* valid; summary set */
  TK_SAMPLE_OK_DEFAULT,    /* valid, the type has no summary(): the default one */
  TK_SAMPLE_SUMMARY_ERROR, /* valid, but summary() failed (message) */
  TK_SAMPLE_DELETED,       /* {"_deleted": true}: a deletion, moderated only */
};
typedef struct tk_office_sample {
  int status; /* TK_SAMPLE_* */
  int column; /* TK_SAMPLE_BAD_JSON */
  char type[TK_MAX_TYPE_LEN + 1];
  char message[512];
  char summary[512];
} tk_office_sample_t;
/* Runs one line of a samples file (line bytes, without the newline) through
 * validate and summary; a valid sample is kept for the exports. Fails only
 * when out of memory. */
int tk_office_plugin_test_line(tk_office_plugin_test_t *t, const char *line, size_t len,
                               int lineno, tk_office_sample_t *res, tk_err_t *err);
/* How many samples were kept (valid). */
size_t tk_office_plugin_test_valid(const tk_office_plugin_test_t *t);
/* Runs every export over the kept samples: cb gets each format's name, media
 * type, bytes written and its error (NULL when it worked). */
void tk_office_plugin_test_exports(tk_office_plugin_test_t *t,
                                   void (*cb)(void *ctx, const char *name,
                                              const char *media_type, size_t bytes,
                                              const char *error),
                                   void *ctx);
size_t tk_office_plugin_test_nexports(const tk_office_plugin_test_t *t);
void tk_office_plugin_test_free(tk_office_plugin_test_t *t);
/* The moderation verdicts of the last line's sample (one that parsed as an
 * object with a type), every rule of the set in its order: cb gets the
 * rule, its file, "accept", "reject" or "quarantine", and the reason ("" for
 * accept). The rule sees what a node sees on receiving it: meta (type,
 * vault: the sample's "_vault" or "samples", size, deleted) and the record,
 * or nil when the test runs as a blind hub does (tundukd plugin test).
 * Returns how many rules ran. */
size_t tk_office_plugin_test_moderate(tk_office_plugin_test_t *t,
                                      void (*cb)(void *ctx, const char *rule,
                                                 const char *file, const char *verdict,
                                                 const char *reason),
                                      void *ctx);

/* The line `plugin test` prints for a sample's result, without the newline,
 * the same in tunduk and tundukd; returns 1 when the sample counts as
 * invalid, -1 when it fails the run (the caller also names the file, line
 * and column of a TK_SAMPLE_BAD_JSON / TK_SAMPLE_NOT_OBJECT on stderr),
 * else 0. */
#define TK_OFFICE_SAMPLE_TEXT 1400 /* enough for any of those lines */
int tk_office_sample_text(const tk_office_sample_t *r, const char *plugin, int lineno,
                          char *out, size_t cap);
/* The line for one verdict of tk_office_plugin_test_moderate's cb. */
void tk_office_verdict_text(const char *rule, const char *file, const char *verdict,
                            const char *reason, char *out, size_t cap);

/* ---- the organisation's plugin set (office_plugin_set.c) -------------------------
 *
 * An admin publishes the plugins every office should run as one record of
 * the engine's own content type "plugin-set" in a vault kept for it (its
 * admins the writers, every office a reader): body {"version": N, "files":
 * {"case.lua": "<source>", ...}, "note": "..."}, one record per vault, each
 * publication a new signed revision of it with a higher version. An office
 * follows one vault; on every sync (and on follow) it takes that vault's
 * set when it counts (its author was a writer of the vault in the verified
 * membership log: the revision's signature and the log are the admin's
 * signature), its version is above the installed one and every file loads
 * in the sandbox, and installs it into HOME/plugin-set/ (written aside,
 * synced, swapped in), with a VERSION file naming the version, revision,
 * author and vault. A set that does not load is not installed and the one
 * in place stays. */

#define TK_OFFICE_PLUGIN_SET_TYPE "plugin-set" /* reserved: no plugin declares it */
#define TK_OFFICE_PLUGIN_SET_MAX_FILES 64
#define TK_OFFICE_PLUGIN_SET_MAX_NOTE 1024                   /* bytes of a set's note */
#define TK_OFFICE_PLUGIN_SET_MAX_VERSION 9007199254740991ull /* 2^53 - 1 */

/* What a publication wrote. */
typedef struct tk_office_set_published {
  uint64_t version;
  size_t nfiles;
  int created; /* the vault's first set: a new record */
  char record[2 * TK_RECORD_ID_LEN + 1], revision[2 * TK_REV_ID_LEN + 1];
} tk_office_set_published_t;

/* Publishes the *.lua files of dir (names [a-z0-9_-]+.lua, at most
 * TK_OFFICE_PLUGIN_SET_MAX_FILES, the body within TK_MAX_BODY_JSON) as the
 * plugin set of vault, version `version` (0: one above the current set's),
 * after every file compiled and declared something in the sandbox.
 * TK_EINVAL naming the file or the version ("version 2 is not above the
 * current set's version 3"), TK_EPLUGIN with the plugin's error, and the
 * write errors (a vault this device may only read). note may be NULL. */
int tk_office_plugin_publish(tk_office_t *o, const char *vault, const char *dir,
                             uint64_t version, const char *note,
                             tk_office_set_published_t *out, tk_err_t *err);

enum {
  TK_OFFICE_SET_NONE = 0,  /* no vault followed, or no set in it yet */
  TK_OFFICE_SET_CURRENT,   /* the followed vault's set is the one installed */
  TK_OFFICE_SET_INSTALLED, /* a newer set was installed */
  TK_OFFICE_SET_IGNORED,   /* a set not above the installed version: left alone */
  TK_OFFICE_SET_REFUSED,   /* a newer set that does not load or read: not installed */
};
/* What looking at the followed vault's set did (tk_office_plugin_set_apply). */
typedef struct tk_office_set_apply {
  int status;         /* TK_OFFICE_SET_* */
  uint64_t version;   /* the vault's set (0: none) */
  uint64_t installed; /* the version installed afterwards (0: none) */
  char vault[TK_MAX_VAULT_LEN + 1];
  char author[TK_DEVICE_ID_STRLEN];
  char message[512]; /* one line for a person, "plugins: ..."; "" if nothing to say */
} tk_office_set_apply_t;

/* Makes vault the one this office takes its plugin set from (a setting in
 * the store), then applies it as below. TK_EINVAL for a bad name or a vault
 * this office does not have yet (it comes with the grant, on sync). */
int tk_office_plugin_follow(tk_office_t *o, const char *vault, tk_office_set_apply_t *r,
                            tk_err_t *err);
/* Looks at the followed vault's set and installs it if it is newer, counts
 * and loads (see above); r says what happened in every case. 0, or the
 * failure that kept a newer set out (TK_EPLUGIN, TK_EINVAL, TK_EIO, ...)
 * with r->message naming it; the installed set is then unchanged. Needs the
 * keys. tk_office_sync calls it after every sync. */
int tk_office_plugin_set_apply(tk_office_t *o, tk_office_set_apply_t *r);
/* The followed vault and the installed set as JSON: {following: vault or
 * null, installed: {version, revision, author, vault} or null}. Needs no
 * keys. */
int tk_office_plugin_set_info(tk_office_t *o, json_t **out, tk_err_t *err);

/* ---- sync with the hub (office_sync.c) ------------------------------------------ */

/* A revision one side did not take, with the reason. */
typedef struct tk_office_reject {
  uint8_t id[TK_REV_ID_LEN];
  int code; /* the protocol's reject code */
  int held; /* kept aside for review (quarantine), not refused */
  char reason[200];
} tk_office_reject_t;

/* What a sync (or enroll, grant) did; free with tk_office_sync_result_free. */
typedef struct tk_office_sync_result {
  uint64_t sent, received, duplicates, skipped;
  uint64_t rev_bytes_out, rev_bytes_in;
  uint64_t chunks_sent, chunks_received, chunk_bytes_out, chunk_bytes_in, chunks_refused;
  uint64_t bytes_out, bytes_in;
  uint32_t round_trips;
  int tls_resumed;
  size_t nrejected; /* by the hub */
  tk_office_reject_t *rejected;
  size_t nrefused; /* pulled revisions this office refused or held */
  tk_office_reject_t *refused;
  uint32_t grants, log_entries, log_refused_entries, rotations;
  char log_refused[200];
  uint32_t conflicts_before, conflicts_after;
  char access[512];
  double seconds;
  char hub_id[TK_DEVICE_ID_STRLEN]; /* enroll: the hub now pinned */
  char hub_addr[300];
  /* sync: what has not reached the hub after it (tk_office_status's
   * "unsent" entries: refused, read-only, held at the hub), NULL if none */
  json_t *unsent;
  uint64_t own_echoes;    /* pulled revisions this office wrote (not duplicates) */
  int hub_restored;       /* the hub's store identity changed: everything re-offered */
  uint32_t released_here; /* held here by this office's rules, taken by them now */
  tk_office_set_apply_t plugin_set; /* sync: the followed vault's plugin set */
} tk_office_sync_result_t;
void tk_office_sync_result_free(tk_office_sync_result_t *r);

#define TK_OFFICE_SYNC_TIMEOUT_MAX 3600u /* sync timeout_s */

typedef struct tk_office_sync_opts {
  int resend;    /* offer and ask for everything */
  int no_resume; /* a full TLS handshake */
  /* Seconds without progress (nothing received from the hub and none of
   * what this office sends taken) after which the sync gives up; also the
   * bound on connecting and the TLS handshake. 0: 30; at most
   * TK_OFFICE_SYNC_TIMEOUT_MAX (TK_EINVAL beyond). */
  uint32_t timeout_s;
  /* after each batch, with the counts so far (lists not filled) */
  void (*progress)(void *ctx, const tk_office_sync_result_t *r);
  void *progress_ctx;
} tk_office_sync_opts_t;

/* Records both ways with the hub, then files; moderation rules from the
 * office's plugins run on what is pulled. Needs the keys. Blocks. */
int tk_office_sync(tk_office_t *o, const tk_office_sync_opts_t *opts,
                   tk_office_sync_result_t *r, tk_err_t *err);
/* A sync on the caller's libuv loop, for a front end whose loop must keep
 * running (the web UI's HTTP server): the same run as tk_office_sync, the
 * end reported to on_end on the loop's thread with the result (valid only
 * during the call; freed after it) and, on failure, err. opts is copied;
 * its progress callback runs on the loop after each batch. o must not be
 * used for writes until on_end has run (reads may go on). 0 with *out (may
 * be NULL) the run going on, else the failure and no callback. */
struct uv_loop_s;
typedef struct tk_office_sync_run tk_office_sync_run_t;
typedef void (*tk_office_sync_end_fn)(void *ctx, int rc, const tk_office_sync_result_t *r,
                                      const tk_err_t *err);
int tk_office_sync_start(tk_office_t *o, struct uv_loop_s *loop,
                         const tk_office_sync_opts_t *opts, tk_office_sync_end_fn on_end,
                         void *ctx, tk_office_sync_run_t **out, tk_err_t *err);
/* Stops a run before its end (on_end follows, TK_ECLOSED); call before
 * on_end only (the run is gone after it). NULL: no-op. */
void tk_office_sync_cancel(tk_office_sync_run_t *run);
/* A sync's result as `tunduk sync --json` prints it (the caller decrefs). */
json_t *tk_office_sync_result_json(const tk_office_sync_result_t *r);
/* How many of r's unsent entries are stranded (refused or not sent, not
 * held): what makes `tunduk sync` exit 4. */
size_t tk_office_sync_stranded(const tk_office_sync_result_t *r);

/* Whether token (from tundukd device add) parses: 0, or TK_EINVAL with the
 * parser's message. For a front end to check before anything else. */
int tk_office_token_check(const char *token, tk_err_t *err);
/* Enrolls at the hub named by token (from tundukd device add): TK_EINVAL
 * for a token that does not parse, TK_EEXIST when this office is already
 * enrolled at another hub. Needs the keys. r->hub_id/hub_addr are set. */
int tk_office_enroll(tk_office_t *o, const char *token, tk_office_sync_result_t *r,
                     tk_err_t *err);
/* ---- nothing stranded (office_status.c) -------------------------------------- */

/* Enrolls a store pinned to one hub at the hub of token instead (the old
 * hub lost or replaced): every record kept, the old hub's checkpoints,
 * TLS pin and unsent entries dropped, so the next sync offers everything
 * to the new hub. The front end confirms with the person first. As
 * tk_office_enroll otherwise (a store pinned nowhere: plain enrollment). */
int tk_office_enroll_move(tk_office_t *o, const char *token, tk_office_sync_result_t *r,
                          tk_err_t *err);
/* What has not reached the hub, as JSON (README, "Nothing stranded"):
 * {hub: {id, address, name} or null, hub_store, last_sync (unix s or null),
 * access, all_at_hub, vaults: [{vault, access, revisions, not_yet_sent,
 * refused, read_only, held_at_hub, held_here, attachments_missing_here,
 * attachments_not_at_hub}], unsent: [{revision, record, vault, state
 * ("refused", "read-only", "held"), code, reason, at, todo}], held_here:
 * [quarantine entries]}. No keys needed. */
int tk_office_status(tk_office_t *o, json_t **out, tk_err_t *err);
/* The records (hex ids) with a revision that has not reached the hub:
 * not yet sent, refused, not sent for want of access, or held there (all
 * of them when enrolled nowhere). Each once, through cb; non-zero from cb
 * stops. No keys needed. */
int tk_office_unsent_records(tk_office_t *o, int (*cb)(void *ctx, const char *record),
                             void *ctx, tk_err_t *err);
/* TK_EACCESS with the reason when the hub this office is enrolled at lets
 * it only read vault (the access of its last Hello); 0 when it may write
 * or the store is enrolled nowhere yet. The write calls check it first. */
int tk_office_write_allowed(tk_office_t *o, const char *vault, tk_err_t *err);

/* Adds device (a printed id) to vault as a writer or a reader, through the
 * hub (TK_ENOTFOUND "no vault '<vault>'"). Needs the keys. */
int tk_office_grant(tk_office_t *o, const char *vault, const char *device, int reader,
                    tk_err_t *err);
/* Removes device from vault and rotates its key, through the hub. */
int tk_office_revoke(tk_office_t *o, const char *vault, const char *device,
                     tk_err_t *err);

/* ---- bundles: a sync written to a file (office_bundle.c; PROTOCOL.md,
 * "Bundles") ---- */
#define TK_OFFICE_BUNDLE_MAX_VAULTS 16
typedef struct tk_office_bundle_opts {
  const char *out; /* create: the file to write (must not exist) */
  const char *to;  /* create: the recipient's printed device id; NULL: the hub */
  const char *vaults[TK_OFFICE_BUNDLE_MAX_VAULTS]; /* none: every vault */
  size_t nvaults;
  int all; /* everything, not only what comes after the recipient's checkpoints */
} tk_office_bundle_opts_t;

typedef struct tk_office_bundle_result {
  char peer[80]; /* the recipient (create) or the sender (apply), printed */
  uint64_t revisions, log_entries, grants, chunks, chunk_bytes; /* in the bundle */
  uint64_t accepted, duplicates, refused;                       /* apply: revisions */
  uint64_t chunks_stored, log_taken, grants_taken;              /* apply */
  uint64_t acked_revs,
      acked_chunks; /* apply of an acknowledgement: checkpoints moved to */
  uint64_t frames, file_bytes, plain_bytes;
  double seconds; /* apply: the time the checks and the store took */
} tk_office_bundle_result_t;

/* Writes what the recipient lacks by this office's checkpoints for it (or
 * everything with all): membership logs, grants addressed to it,
 * revisions, attachment chunks, sealed to it and signed here. Needs the
 * keys. A written bundle moves no checkpoint: only its acknowledgement
 * does. */
int tk_office_bundle_create(tk_office_t *o, const tk_office_bundle_opts_t *opts,
                            tk_office_bundle_result_t *r, tk_err_t *err);
/* Applies a bundle addressed to this office with every check of a pull
 * (signatures, membership logs, this office's moderation, quarantine),
 * each step committed with its checkpoint: idempotent, and a cut apply run
 * again ends in the same state. A damaged bundle is refused before any of
 * it is used (err names the byte offset). ack_out (may be NULL): writes an
 * acknowledgement bundle for the sender there. Needs the keys. */
int tk_office_bundle_apply(tk_office_t *o, const char *path, const char *ack_out,
                           tk_office_bundle_result_t *r, tk_err_t *err);

#endif
