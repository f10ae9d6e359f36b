/*
 * tk_token.h: enrollment tokens. A token is what an admin hands an office
 * out of band so it can enroll at a hub once: the hub's address and device
 * id, a token id and a 32-byte secret, and an expiry. Text form:
 * "tk1-" + base64url (no padding) of the binary layout in PROTOCOL.md.
 * Threads: any.
 */
#ifndef TK_TOKEN_H
#define TK_TOKEN_H

#include "tk_crypto.h"

#define TK_TOKEN_ID_LEN 16
#define TK_TOKEN_SECRET_LEN 32
#define TK_TOKEN_MAX_ADDR 255
#define TK_TOKEN_MAX_TEXT 512

typedef struct tk_token {
  uint8_t hub_id[TK_DEVICE_ID_LEN];
  uint8_t token_id[TK_TOKEN_ID_LEN];
  uint8_t secret[TK_TOKEN_SECRET_LEN];
  uint64_t expires; /* unix seconds */
  char addr[TK_TOKEN_MAX_ADDR + 1];
} tk_token_t;

/* Writes the text form into out (at least TK_TOKEN_MAX_TEXT bytes). */
int tk_token_format(const tk_token_t *t, char *out, size_t outlen);
/* Parses the text form (surrounding white space allowed). TK_EFORMAT with
 * a message saying what is wrong; never reads past the limits. */
int tk_token_parse(tk_token_t *t, const char *text, tk_err_t *err);

/* Splits "host:port" or "[v6]:port" (port 0..65535; 0 means "any free
 * port" to a listener). TK_EINVAL if malformed. host must hold
 * TK_TOKEN_MAX_ADDR + 1 bytes. */
int tk_addr_split(const char *addr, char *host, int *port);

#endif
