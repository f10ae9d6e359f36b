/*
 * tk_hub_bundle.h: `tundukd bundle apply` (hub_bundle.c): a bundle an
 * office wrote for this hub (tk_bundle.h; PROTOCOL.md, "Bundles"),
 * applied with the checks of a live push.
 *
 * Threads: the caller's; the hub need not be serving (it may be: sqlite
 * WAL lets both write, one transaction at a time).
 */
#ifndef TK_HUB_BUNDLE_H
#define TK_HUB_BUNDLE_H

#include "tk_config.h"
#include "tk_office_engine.h"

typedef struct tk_hub_bundle_result {
  char peer[TK_DEVICE_ID_STRLEN]; /* the sender */
  uint64_t revisions, accepted, duplicates, rejected, quarantined;
  uint64_t chunks, chunks_stored, chunks_refused;
  uint64_t log_entries, log_new; /* log_new: entries this hub lacks, not taken */
  uint64_t frames, file_bytes;
  char first_reject[240]; /* the first rejection's reason, for the message */
  double seconds;
} tk_hub_bundle_result_t;

/* Applies the bundle at path, sealed to home's hub (unlocked), from a
 * device this hub knows and has not revoked: each revision with the push's
 * checks (the device's access list, the author's access, the vault's
 * membership log, the attachment limits, the hub's moderation rules, in
 * process; held ones quarantined), each step committed with its
 * checkpoint for the sender (moved only past a step with no rejection, so
 * the sender's acknowledgement never passes what the hub refused); chunks
 * that a stored revision of a vault the device may write names. A damaged
 * bundle is refused before anything is used. ack_out (may be NULL): the
 * acknowledgement bundle for the sender. */
int tk_hub_bundle_apply(tk_office_t *home, const tk_config_t *cfg, const char *path,
                        const char *ack_out, tk_hub_bundle_result_t *r, tk_err_t *err);

#endif
