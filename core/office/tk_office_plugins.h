/*
 * tk_office_plugins.h: the plugins of an office, as the office clients use
 * them: which folder they come from, checking a record through its content
 * type before it is stored, and exporting the office's current records
 * through an export plugin.
 *
 * Folders: three layers, lowest first, a later one's file replacing an
 * earlier one's of the same file name (tk_plugin_set_load_layers):
 * "bundled", $TUNDUK_PLUGINS if set, else the installation's
 * share/tunduk/plugins (tk_install.h; in the build tree, a link to the
 * source tree's plugins/); "set", HOME/plugin-set
 * (an organisation's plugin set, when one was received), and "home",
 * HOME/plugins (the office's own). The hub (tk_hub.h) loads the same three.
 *
 * What no export may carry is removed here, in C, before any export plugin
 * sees a record: the "narrative" of a record whose "consent" is
 * "withdrawn" (a testimony whose witness withdrew consent), and the fields
 * the user asked to redact. A plugin cannot undo that: it never receives
 * those fields.
 *
 * Threads: like tk_office_t, one thread at a time per office and set.
 */
#ifndef TK_OFFICE_PLUGINS_H
#define TK_OFFICE_PLUGINS_H

#include <jansson.h>

#include "tk_office_engine.h"
#include "tk_plugin.h"

#define TK_OFFICE_PLUGIN_SUBDIR TK_HOME_PLUGIN_SUBDIR /* tk_office_home.h */

/* The bundled plugin folder: $TUNDUK_PLUGINS if set and not empty, else
 * tk_install_plugin_dir(). Never NULL; a static or environment string. */
const char *tk_office_plugins_bundled(void);

/* Writes the top plugin folder of the office at home into dir (cap bytes):
 * home/plugins if it is a directory, else the bundled folder. TK_ELIMIT if
 * the path does not fit. */
int tk_office_plugins_dir(const char *home, char *dir, size_t cap, tk_err_t *err);

/* The folder of the "set" layer in a home folder: TK_HOME_PLUGIN_SET_SUBDIR
 * (tk_office_home.h). */

/* The layers of the office at home (see above); their paths live in *out. */
typedef struct tk_office_layers {
  tk_plugin_layer_t v[4]; /* room for one more: plugin test's file */
  size_t n;
  char set[4096], home[4096];
} tk_office_layers_t;
int tk_office_plugin_layers(const char *home, tk_office_layers_t *out, tk_err_t *err);

/* Loads layers l into a new jailed set of up to `workers` processes
 * (*out, caller frees). Errors as tk_plugin_set_load_layers. */
int tk_office_plugins_layered(tk_plugin_set_t **out, const tk_office_layers_t *l,
                              unsigned workers, tk_err_t *err);

/* tk_office_plugin_list (tk_office.h) over layers l (tundukd plugin list);
 * "folder" is the highest layer that is there. */
int tk_office_plugin_list_layers(const tk_office_layers_t *l, json_t **out,
                                 tk_err_t *err);

/* tk_office_plugin_test_open (tk_office.h) over layers l (tundukd plugin
 * test: the hub's layers); blind: the rules are given no record, as at a
 * hub that holds no vault key. */
int tk_office_plugin_test_open_layers(tk_office_plugin_test_t **out,
                                      const tk_office_layers_t *l, const char *which,
                                      int blind, json_t **notes, tk_err_t *err);

/* Loads the plugins of the office at home (folder as above) into a new set
 * (*out, caller frees with tk_plugin_set_free) under default limits, jailed
 * (tk_plugin_set_new_jailed, up to two worker processes: the second starts only when two
 * calls run at once, as in an import). dir, if not NULL, receives the top folder
 * (tk_office_plugins_dir; cap bytes). A plugin that fails to load is kept in the set's
 * load errors and a lower folder's file of that name runs instead, if one loads; the
 * others load. TK_EIO if a folder cannot be read (the set is then freed). */
int tk_office_plugins(tk_plugin_set_t **out, const char *home, char *dir, size_t cap,
                      tk_err_t *err);

/* A content type's form (office_schema.c), the JSON tk_office_form_schema
 * answers: {"type", "plugin", "label" (English), "labels": {"en", "ru",
 * "ky"}, "validate", "summary", "merge", "extra_fields", "fields": [...]},
 * fields as tk_office_type_fields gives them. NULL on memory failure; the
 * caller decrefs. */
json_t *tk_office_type_form(const tk_plugin_decl_t *d);
/* d's fields in its `order`, the rest by name: [{"name", "kind",
 * "required", "label", "labels", and by kind: "values" + "value_labels"
 * {value: {"en", "ru", "ky"}} (enum), "ref_type" (ref, when declared),
 * "items" (list, when declared: {"kind", ...} as a field without name,
 * label and required; an object's "fields" as these)}]. Every "labels" has
 * all three languages (a missing one is the English label, else the name
 * with '_' as spaces and its first letter upper case; a value's: the
 * value). */
json_t *tk_office_type_fields(const tk_plugin_decl_t *d);

/* Checks body as a record of content type `type` (the host's field checks
 * and the plugin's validate). Returns 0 if valid; TK_EINVAL with err = the
 * reason alone (e.g. "field 'status' is required"); TK_ENOTFOUND if no
 * plugin declares the type; TK_EPLUGIN if the plugin failed; TK_ELIMIT if
 * the body is too big. Tombstones are not content: the caller skips them. */
int tk_office_validate(tk_plugin_set_t *s, const char *type, const json_t *body,
                       tk_err_t *err);

/* Removes in place what no export may carry (see above): when body's
 * "consent" is the string "withdrawn", its "narrative"; and the keys and
 * chunk ids of its attachments (their names, sizes and hashes stay).
 * Returns the number of fields removed (the narrative). */
int tk_office_export_prepare(json_t *body);

/* tk_office_export_opts_t, tk_office_export_stats_t: tk_office.h. */
/* Streams the current records (each record's winner, deleted ones left
 * out), oldest first, through export opts->format: each body decrypted,
 * prepared (tk_office_export_prepare) and redacted before the plugin sees
 * it, with its metadata (record, revision, type, vault, author, hlc, size,
 * generation; attachments as names and sizes). Only opts->records when
 * given. write gets a third argument, info (lang, tz_offset_min,
 * organisation, now, the content types' labels: office_report.c). The
 * plugin's output goes to write(ud, ...). Needs the office
 * unlocked. Records of vaults this device holds no key for are skipped and
 * counted. Returns 0, TK_ENOTFOUND (no such format), or the plugin's or
 * store's failure with err set. */
int tk_office_export(tk_office_t *o, tk_plugin_set_t *s,
                     const tk_office_export_opts_t *opts, tk_plugin_write_fn write,
                     void *ud, tk_office_export_stats_t *stats, tk_err_t *err);

/* Resolves a conflicted record with its content type's merge(): the
 * other heads are merged into the winner one at a time, each with the
 * nearest common ancestor as base (nil when there is none). The result is
 * validated; *merged (caller decrefs) is what the caller writes with
 * tk_office_update(..., TK_PARENTS_ALL_HEADS). TK_EPLUGIN if the type has
 * no merge (not a name the caller got wrong: no TK_ENOTFOUND) or if merge
 * declined (err has its reason); TK_EINVAL if
 * the result is not a valid record. Needs the office unlocked. */
int tk_office_auto_merge(tk_office_t *o, tk_plugin_set_t *s,
                         const uint8_t record_id[TK_RECORD_ID_LEN], json_t **merged,
                         tk_err_t *err);

#endif
