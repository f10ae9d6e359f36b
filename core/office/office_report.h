/*
 * office_report.h: what office_plugins.c's export takes from
 * office_report.c: the export's info argument and the choice of records.
 * One thread at a time, as tk_office.h.
 */
#ifndef TK_OFFICE_REPORT_H
#define TK_OFFICE_REPORT_H

#include <jansson.h>

#include "tk_office_engine.h"
#include "tk_plugin.h"

/* The export's third argument (plugins/PLUGINS.md, "info") for opts, from
 * the content types of s: *out (caller decrefs). TK_EINVAL naming a bad
 * lang or tz_offset_min. */
int tk__office_export_info(tk_office_t *o, tk_plugin_set_t *s,
                           const tk_office_export_opts_t *opts, json_t **out,
                           tk_err_t *err);

/* Keeps of recs[0..*n) those opts->records names (all when it is NULL), in
 * their order. Errors: an id that does not resolve (tk_office_record_find),
 * TK_ELIMIT past TK_OFFICE_EXPORT_MAX_RECORDS. */
int tk__office_export_select(tk_office_t *o, const tk_office_export_opts_t *opts,
                             tk_record_info_t *recs, size_t *n, tk_err_t *err);

#endif
