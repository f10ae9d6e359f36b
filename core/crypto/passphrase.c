/*
 * passphrase.c: where tunduk and tundukd get a passphrase (see
 * tk_passphrase.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "tk_crypto.h"
#include "tk_passphrase.h"

/* Reads one line (without its newline) from fd into buf (cap bytes). */
static int read_line(int fd, char *buf, size_t cap, size_t *len)
{
  size_t n = 0;
  for (;;) {
    char ch;
    ssize_t r = read(fd, &ch, 1);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0 || ch == '\n') break;
    if (n + 1 >= cap) return TK_ELIMIT;
    buf[n++] = ch;
  }
  if (n > 0 && buf[n - 1] == '\r') n--;
  buf[n] = '\0';
  *len = n;
  return 0;
}

static int prompt(const char *text, char *buf, size_t cap, size_t *len)
{
  int fd = open("/dev/tty", O_RDWR | O_NOCTTY);
  if (fd < 0) return TK_ENOTFOUND;
  struct termios old, quiet;
  int have_term = tcgetattr(fd, &old) == 0;
  if (write(fd, text, strlen(text)) < 0) {
    close(fd);
    return TK_EIO;
  }
  if (have_term) {
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
    quiet.c_lflag |= ICANON;
    tcsetattr(fd, TCSAFLUSH, &quiet);
  }
  int rc = read_line(fd, buf, cap, len);
  if (have_term) tcsetattr(fd, TCSAFLUSH, &old);
  if (write(fd, "\n", 1) < 0) rc = rc ? rc : TK_EIO;
  close(fd);
  return rc;
}

/* Where one passphrase comes from, and what the messages name. */
typedef struct source {
  const char *file;     /* a path or NULL */
  const char *file_opt; /* the option that names a file ("--passphrase-file") */
  const char *env;      /* a variable's name or NULL */
  const char *prompt;   /* what the terminal shows */
  int confirm;          /* a new passphrase: asked twice, at least the minimum */
} source_t;

static int get(const source_t *src, char **out, size_t *len, tk_err_t *err)
{
  char *buf = tk_secure_alloc(TK_MAX_PASSPHRASE + 1);
  char *again = NULL;
  int rc = 0;
  *out = NULL;
  *len = 0;
  if (!buf) return tk_err_set(err, TK_ENOMEM, "cannot allocate locked memory");
  const char *env = src->env ? getenv(src->env) : NULL;
  if (src->file) {
    int fd = open(src->file, O_RDONLY);
    if (fd < 0) {
      rc = tk_err_set(err, TK_EINVAL, "cannot open passphrase file %s: %s", src->file,
                      strerror(errno));
      goto done;
    }
    rc = read_line(fd, buf, TK_MAX_PASSPHRASE + 1, len);
    close(fd);
  } else if (env) {
    *len = strlen(env);
    if (*len > TK_MAX_PASSPHRASE)
      rc = TK_ELIMIT;
    else
      memcpy(buf, env, *len + 1);
  } else {
    rc = prompt(src->prompt, buf, TK_MAX_PASSPHRASE + 1, len);
    if (rc == TK_ENOTFOUND) {
      /* The message names the option and the variable this program reads. */
      if (src->env)
        rc = tk_err_set(err, TK_EINVAL,
                        "no passphrase: no terminal to ask on; use %s or set %s",
                        src->file_opt, src->env);
      else
        rc = tk_err_set(err, TK_EINVAL, "no passphrase: no terminal to ask on; use %s",
                        src->file_opt);
      goto done;
    }
    if (!rc && src->confirm) {
      size_t len2 = 0;
      again = tk_secure_alloc(TK_MAX_PASSPHRASE + 1);
      if (!again) {
        rc = tk_err_set(err, TK_ENOMEM, "cannot allocate locked memory");
        goto done;
      }
      rc = prompt("Same passphrase again: ", again, TK_MAX_PASSPHRASE + 1, &len2);
      if (!rc && (len2 != *len || !tk_ct_equal(again, buf, *len))) {
        rc =
            tk_err_set(err, TK_EINVAL, "the two passphrases differ; nothing was written");
        goto done;
      }
    }
  }
  if (rc == TK_ELIMIT) {
    rc = tk_err_set(err, TK_ELIMIT, "passphrase is longer than %d bytes",
                    TK_MAX_PASSPHRASE);
    goto done;
  }
  if (rc) {
    tk_err_set(err, rc, "cannot read the passphrase");
    goto done;
  }
  if (src->confirm && *len < TK_MIN_NEW_PASSPHRASE) {
    rc = tk_err_set(err, TK_EINVAL, "a passphrase needs at least %d characters",
                    TK_MIN_NEW_PASSPHRASE);
    goto done;
  }
  *out = buf;
  buf = NULL;
done:
  tk_secure_free(buf);
  tk_secure_free(again);
  return rc;
}

int tk_passphrase_get(const char *file, const char *env_name, const char *label,
                      int confirm, char **out, size_t *len, tk_err_t *err)
{
  char text[4200];
  snprintf(text, sizeof text, "Passphrase for %s: ", label);
  source_t src = {file, "--passphrase-file", env_name, text, confirm};
  return get(&src, out, len, err);
}

int tk_passphrase_get_new(const char *file, const char *file_opt, const char *label,
                          char **out, size_t *len, tk_err_t *err)
{
  char text[4200];
  snprintf(text, sizeof text, "New passphrase for %s: ", label);
  source_t src = {file, file_opt, NULL, text, 1};
  return get(&src, out, len, err);
}
