/*
 * tk_common.h: what every tunduk module shares: error codes and the error
 * detail struct, byte views (tk_slice_t) and growable buffers (tk_buf_t),
 * the log macro, and the named limits on everything that comes from outside.
 *
 * Threads: everything here may be called from any thread; the log level is a
 * process-wide setting made once at start-up.
 */
#ifndef TK_COMMON_H
#define TK_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* ---- errors --------------------------------------------------------------
 * Fallible functions return int: 0 on success, a negative TK_E* on failure.
 * Where a human needs more than the code, the function takes a tk_err_t and
 * writes a one-line message naming what was wrong and where.
 */
enum {
  TK_OK = 0,
  TK_ENOMEM = -1,     /* out of memory */
  TK_EINVAL = -2,     /* bad argument or malformed input */
  TK_EIO = -3,        /* file or socket I/O failed */
  TK_EFORMAT = -4,    /* bytes do not parse as the expected format */
  TK_ELIMIT = -5,     /* a size, count or depth limit was exceeded */
  TK_EHASH = -6,      /* content does not match its hash */
  TK_ESIG = -7,       /* signature does not verify */
  TK_ETAG = -8,       /* AEAD authentication tag does not verify */
  TK_EPASS = -9,      /* wrong passphrase */
  TK_ENOTFOUND = -10, /* no such record, revision, vault, device or file */
  TK_EEXIST = -11,    /* already exists */
  TK_EAMBIG = -12,    /* an id prefix matches more than one thing */
  TK_EPARENT = -13,   /* a parent revision is missing or inconsistent */
  TK_ENOKEY = -14,    /* this device holds no key for the vault */
  TK_ESTORE = -15,    /* the database failed */
  TK_EBUSY = -16,     /* the store is locked by another process */
  TK_EVERSION = -17,  /* store or file written by a newer tunduk */
  TK_EACCESS = -18,   /* not allowed */
  TK_EPROTO = -19,    /* peer broke the protocol */
  TK_ETIMEDOUT = -20, /* a timeout expired */
  TK_ECLOSED = -21,   /* connection closed */
  TK_EPLUGIN = -22,   /* a plugin failed or refused */
  TK_ECRYPTO = -23,   /* a crypto library call failed unexpectedly */
  TK_EPENDING = -24,  /* not here yet: still to arrive by a sync (attachment chunks) */
  TK_ERR_MIN = -24
};

/* A static English description of rc; never NULL. */
const char *tk_strerror(int rc);

/* Detail for humans: the code and a one-line message. */
typedef struct tk_err {
  int code;
  char msg[512];
} tk_err_t;

/* Sets err (if not NULL) to code and a formatted message; returns code, so
 * callers write `return tk_err_set(err, TK_EINVAL, "...")`. The arguments
 * may include err->msg (to add context to a message). */
int tk_err_set(tk_err_t *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Clears err to TK_OK and an empty message. */
void tk_err_clear(tk_err_t *err);
/* The message if one was set, else tk_strerror(code). */
const char *tk_err_str(const tk_err_t *err);

/* ---- bytes ---------------------------------------------------------------- */

typedef struct tk_slice {
  const uint8_t *p;
  size_t n;
} tk_slice_t;

#define TK_SLICE(ptr, len) ((tk_slice_t){(const uint8_t *)(ptr), (len)})

/* A growable byte buffer. Zero-initialise it (TK_BUF_INIT) before use; free
 * with tk_buf_free. p may be NULL while n == 0. */
typedef struct tk_buf {
  uint8_t *p;
  size_t n;
  size_t cap;
} tk_buf_t;

#define TK_BUF_INIT                                                                      \
  {                                                                                      \
    NULL, 0, 0                                                                           \
  }

int tk_buf_reserve(tk_buf_t *b, size_t extra);
int tk_buf_append(tk_buf_t *b, const void *data, size_t n);
int tk_buf_append_u8(tk_buf_t *b, uint8_t v);
int tk_buf_append_u16be(tk_buf_t *b, uint16_t v);
int tk_buf_append_u32be(tk_buf_t *b, uint32_t v);
int tk_buf_append_u64be(tk_buf_t *b, uint64_t v);
/* Appends a NUL-terminated formatted string (the NUL is not counted in n but
 * is present after p[n-1]). */
int tk_buf_printf(tk_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Zeroes (sodium_memzero) and frees; b is left empty and reusable. */
void tk_buf_wipe(tk_buf_t *b);
void tk_buf_free(tk_buf_t *b);

/* A bounded reader over a slice: every read checks the remaining length.
 * On a short read it sets ok = 0 and returns zeros; check ok at the end. */
typedef struct tk_reader {
  const uint8_t *p;
  size_t n;
  size_t off;
  int ok;
} tk_reader_t;

void tk_reader_init(tk_reader_t *r, tk_slice_t s);
uint8_t tk_read_u8(tk_reader_t *r);
uint16_t tk_read_u16be(tk_reader_t *r);
uint32_t tk_read_u32be(tk_reader_t *r);
uint64_t tk_read_u64be(tk_reader_t *r);
/* A view of the next n bytes (no copy); {NULL,0} and ok = 0 if short. */
tk_slice_t tk_read_bytes(tk_reader_t *r, size_t n);

/* ---- encodings ------------------------------------------------------------ */

/* Lowercase hex. out must hold 2*n+1 bytes. */
void tk_hex_encode(char *out, const uint8_t *in, size_t n);
/* Parses exactly 2*n hex digits (either case) into out. */
int tk_hex_decode(uint8_t *out, size_t n, const char *in);

/* ---- logging --------------------------------------------------------------
 * One line per event on stderr: "time level subsystem message key=value...";
 * when stderr is the journal, "<priority>level subsystem message..." with
 * no time (log.c).
 * The level is checked before anything is formatted. Never log keys or
 * record contents above TK_LOG_DEBUG.
 */
enum { TK_LOG_ERROR = 0, TK_LOG_WARN = 1, TK_LOG_INFO = 2, TK_LOG_DEBUG = 3 };
extern int tk_log_level;
void tk_log_write(int level, const char *subsys, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define TK_LOG(level, subsys, ...)                                                       \
  do {                                                                                   \
    if ((level) <= tk_log_level) tk_log_write((level), (subsys), __VA_ARGS__);           \
  } while (0)
/* Parses "error|warn|info|debug"; returns the level or -1. */
int tk_log_level_parse(const char *s);

/* ---- the process ----------------------------------------------------------
 * Every tunduk program (and test tool) calls tk_process_no_core() as the
 * first thing in main: a crash must never write a core file holding
 * decrypted records, attachments or unlocked keys (process.c). */
/* Core file size limit 0 (soft and hard: it cannot be raised again) and
 * not dumpable (PR_SET_DUMPABLE 0: no core even through a core_pattern
 * pipe, and /proc/PID/mem, environ etc. readable by root only). 0, or
 * TK_EIO if either failed (the caller should stop: say so and exit). */
int tk_process_no_core(void);

/* ---- ids ----------------------------------------------------------------- */
/* Sizes of the ids every layer names (front ends too, through tk_office.h). */
#define TK_HASH_LEN 32      /* SHA-256 */
#define TK_DEVICE_ID_LEN 32 /* SHA-256 of the Ed25519 public key */
#define TK_KEY_ID_LEN 8     /* short fingerprint naming a vault key */
#define TK_REV_ID_LEN 32    /* a revision's id (SHA-256 of its bytes) */
#define TK_RECORD_ID_LEN 16 /* a record's random id */
/* Device ids print as 52 base32 characters in 13 groups of 4 joined by '-'. */
#define TK_DEVICE_ID_STRLEN 65 /* 52 + 12 dashes + NUL */

/* ---- limits on what comes from outside ------------------------------------ */
#define TK_MAX_BODY_JSON (1u << 20)        /* a record body, as JSON text */
#define TK_MAX_REVISION (2u << 20)         /* one encoded revision */
#define TK_MAX_PARENTS 64                  /* parents of one revision */
#define TK_MAX_TYPE_LEN 32                 /* content type name */
#define TK_MAX_VAULT_LEN 64                /* vault name */
#define TK_MAX_ATTACH_REFS 4096            /* attachment refs in one revision */
#define TK_CHUNK_PLAIN (256u << 10)        /* plaintext bytes of one attachment chunk */
#define TK_CHUNK_MAX (TK_CHUNK_PLAIN + 16) /* one chunk's ciphertext, tag included */
#define TK_MAX_JSON_DEPTH 64               /* nesting of a record body */
#define TK_MAX_DELTA_CHAIN 8               /* parents a delta body may need to read */
#define TK_MAX_KEYFILE (64u << 10)         /* a device key file */
#define TK_MAX_PASSPHRASE 1024             /* bytes of a passphrase */

/* Simple assertion that stays in release builds for cheap invariants. */
#define TK_ASSERT(x)                                                                     \
  do {                                                                                   \
    if (!(x)) tk__assert_fail(#x, __FILE__, __LINE__);                                   \
  } while (0)
void tk__assert_fail(const char *expr, const char *file, int line)
    __attribute__((noreturn));

#endif
