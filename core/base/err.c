/*
 * err.c: tunduk's error codes, their descriptions, the tk_err_t detail
 * struct, and the always-on assertion. Any thread.
 */
#include "tk_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *tk_strerror(int rc)
{
  switch (rc) {
  case TK_OK:
    return "success";
  case TK_ENOMEM:
    return "out of memory";
  case TK_EINVAL:
    return "invalid argument or input";
  case TK_EIO:
    return "input/output error";
  case TK_EFORMAT:
    return "malformed data";
  case TK_ELIMIT:
    return "limit exceeded";
  case TK_EHASH:
    return "hash mismatch";
  case TK_ESIG:
    return "signature does not verify";
  case TK_ETAG:
    return "authentication tag does not verify";
  case TK_EPASS:
    return "wrong passphrase";
  case TK_ENOTFOUND:
    return "not found";
  case TK_EEXIST:
    return "already exists";
  case TK_EAMBIG:
    return "ambiguous id prefix";
  case TK_EPARENT:
    return "missing or inconsistent parent revision";
  case TK_ENOKEY:
    return "no key for this vault on this device";
  case TK_ESTORE:
    return "store database error";
  case TK_EBUSY:
    return "store is locked by another process";
  case TK_EVERSION:
    return "written by a newer version of tunduk";
  case TK_EACCESS:
    return "access denied";
  case TK_EPROTO:
    return "protocol error";
  case TK_ETIMEDOUT:
    return "timed out";
  case TK_ECLOSED:
    return "connection closed";
  case TK_EPLUGIN:
    return "plugin error";
  case TK_ECRYPTO:
    return "crypto library failure";
  case TK_EPENDING:
    return "not here yet (sync again)";
  default:
    return "unknown error";
  }
}

int tk_err_set(tk_err_t *err, int code, const char *fmt, ...)
{
  if (err) {
    /* Formatted aside first: the arguments may be err->msg itself, as in
     * tk_err_set(err, rc, "context: %s", err->msg). */
    char msg[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    err->code = code;
    memcpy(err->msg, msg, sizeof msg);
  }
  return code;
}

void tk_err_clear(tk_err_t *err)
{
  if (err) {
    err->code = TK_OK;
    err->msg[0] = '\0';
  }
}

const char *tk_err_str(const tk_err_t *err)
{
  if (err->msg[0]) return err->msg;
  return tk_strerror(err->code);
}

void tk__assert_fail(const char *expr, const char *file, int line)
{
  fprintf(stderr, "tunduk: internal error: assertion '%s' failed at %s:%d\n", expr, file,
          line);
  abort();
}
