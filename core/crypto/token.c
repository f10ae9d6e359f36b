/*
 * token.c: enrollment tokens in text form, and "host:port" addresses
 * (see tk_token.h). Any thread.
 */
#include "tk_token.h"

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_PREFIX "tk1-"
#define TOKEN_VERSION 1
#define TOKEN_FIXED (1 + TK_DEVICE_ID_LEN + TK_TOKEN_ID_LEN + TK_TOKEN_SECRET_LEN + 8 + 1)

int tk_token_format(const tk_token_t *t, char *out, size_t outlen)
{
  tk_buf_t b = TK_BUF_INIT;
  size_t alen = strlen(t->addr);
  int rc = 0;
  if (alen == 0 || alen > TK_TOKEN_MAX_ADDR) return TK_EINVAL;
  rc = tk_buf_append_u8(&b, TOKEN_VERSION);
  if (!rc) rc = tk_buf_append(&b, t->hub_id, TK_DEVICE_ID_LEN);
  if (!rc) rc = tk_buf_append(&b, t->token_id, TK_TOKEN_ID_LEN);
  if (!rc) rc = tk_buf_append(&b, t->secret, TK_TOKEN_SECRET_LEN);
  if (!rc) rc = tk_buf_append_u64be(&b, t->expires);
  if (!rc) rc = tk_buf_append_u8(&b, (uint8_t)alen);
  if (!rc) rc = tk_buf_append(&b, t->addr, alen);
  if (rc) goto done;
  size_t need = strlen(TOKEN_PREFIX) +
                sodium_base64_encoded_len(b.n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  if (outlen < need) {
    rc = TK_ELIMIT;
    goto done;
  }
  memcpy(out, TOKEN_PREFIX, strlen(TOKEN_PREFIX));
  sodium_bin2base64(out + strlen(TOKEN_PREFIX), outlen - strlen(TOKEN_PREFIX), b.p, b.n,
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
done:
  tk_buf_wipe(&b);
  return rc;
}

int tk_token_parse(tk_token_t *t, const char *text, tk_err_t *err)
{
  uint8_t bin[TOKEN_FIXED + TK_TOKEN_MAX_ADDR];
  size_t binlen = 0;
  const char *end;
  int rc = 0;
  while (isspace((unsigned char)*text))
    text++;
  size_t n = strlen(text); /* all of it: nothing past a limit may go unread */
  while (n > 0 && isspace((unsigned char)text[n - 1]))
    n--;
  if (n > TK_TOKEN_MAX_TEXT)
    return tk_err_set(err, TK_EFORMAT, "enrollment token is longer than %d characters",
                      TK_TOKEN_MAX_TEXT);
  if (n < strlen(TOKEN_PREFIX) || memcmp(text, TOKEN_PREFIX, strlen(TOKEN_PREFIX)) != 0)
    return tk_err_set(err, TK_EFORMAT,
                      "not an enrollment token (it should start with '%s')",
                      TOKEN_PREFIX);
  if (sodium_base642bin(bin, sizeof bin, text + strlen(TOKEN_PREFIX),
                        n - strlen(TOKEN_PREFIX), NULL, &binlen, &end,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
      end != text + n)
    return tk_err_set(err, TK_EFORMAT,
                      "enrollment token is damaged (bad base64 at character %zu)",
                      (size_t)(end ? end - text + 1 : 0));
  tk_reader_t r;
  tk_reader_init(&r, TK_SLICE(bin, binlen));
  if (tk_read_u8(&r) != TOKEN_VERSION) {
    rc = tk_err_set(err, TK_EFORMAT, "enrollment token of an unknown format version");
    goto done;
  }
  tk_slice_t hub = tk_read_bytes(&r, TK_DEVICE_ID_LEN);
  tk_slice_t tid = tk_read_bytes(&r, TK_TOKEN_ID_LEN);
  tk_slice_t sec = tk_read_bytes(&r, TK_TOKEN_SECRET_LEN);
  uint64_t expires = tk_read_u64be(&r);
  uint8_t alen = tk_read_u8(&r);
  tk_slice_t addr = tk_read_bytes(&r, alen);
  if (!r.ok || r.off != binlen || alen == 0 || memchr(addr.p, 0, addr.n)) {
    rc = tk_err_set(err, TK_EFORMAT, "enrollment token is truncated or damaged");
    goto done;
  }
  memset(t, 0, sizeof *t);
  memcpy(t->hub_id, hub.p, hub.n);
  memcpy(t->token_id, tid.p, tid.n);
  memcpy(t->secret, sec.p, sec.n);
  t->expires = expires;
  memcpy(t->addr, addr.p, addr.n);
  t->addr[addr.n] = '\0';
done:
  sodium_memzero(bin, sizeof bin);
  return rc;
}

int tk_addr_split(const char *addr, char *host, int *port)
{
  const char *colon;
  size_t hlen;
  if (addr[0] == '[') {
    const char *close = strchr(addr, ']');
    if (!close || close[1] != ':') return TK_EINVAL;
    hlen = (size_t)(close - addr - 1);
    colon = close + 1;
    addr++;
  } else {
    colon = strrchr(addr, ':');
    if (!colon) return TK_EINVAL;
    hlen = (size_t)(colon - addr);
  }
  if (hlen == 0 || hlen > TK_TOKEN_MAX_ADDR) return TK_EINVAL;
  char *endp;
  long p = strtol(colon + 1, &endp, 10);
  if (*endp || endp == colon + 1 || p < 0 || p > 65535) return TK_EINVAL;
  memcpy(host, addr, hlen);
  host[hlen] = '\0';
  *port = (int)p;
  return 0;
}
