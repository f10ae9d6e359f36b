/*
 * tk_passphrase.h: where a program gets a passphrase: a file (first line),
 * an environment variable, or the terminal with echo off (asked twice when
 * a new passphrase is being set). The passphrase lives only in locked
 * memory. Main thread only (it touches the terminal).
 */
#ifndef TK_PASSPHRASE_H
#define TK_PASSPHRASE_H

#include "tk_common.h"

#define TK_MIN_NEW_PASSPHRASE 8

/* file: a path or NULL; env: the variable's name; label: what the prompt
 * names ("Passphrase for LABEL: "). *out is locked memory that the caller
 * frees with tk_secure_free. TK_EINVAL when none can be had, with a
 * message saying how to give one (naming --passphrase-file and env, the
 * variable this program reads). */
int tk_passphrase_get(const char *file, const char *env, const char *label, int confirm,
                      char **out, size_t *len, tk_err_t *err);

/* A new passphrase that replaces an old one (tunduk passphrase): from file
 * (a path), else the terminal ("New passphrase for LABEL: ", asked twice);
 * never from the environment. At least TK_MIN_NEW_PASSPHRASE bytes.
 * file_opt is the option the "no terminal" message tells to use. *out as
 * for tk_passphrase_get. */
int tk_passphrase_get_new(const char *file, const char *file_opt, const char *label,
                          char **out, size_t *len, tk_err_t *err);

#endif
