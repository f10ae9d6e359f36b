/*
 * token.c (fuzz target "token"): tk_token_parse on arbitrary text. A token
 * that parses must format back and parse to the same token (round trip).
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz_fixture.h"
#include "tk_token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  tk_token_t t, back;
  tk_err_t e;
  char text[TK_TOKEN_MAX_TEXT];
  fz_init();
  char *s = malloc(size + 1); /* NUL-terminated, exactly sized: ASan sees overreads */
  if (!s) return 0;
  memcpy(s, data, size);
  s[size] = '\0';
  if (tk_token_parse(&t, s, &e) == 0) {
    TK_ASSERT(strlen(t.addr) >= 1 && strlen(t.addr) <= TK_TOKEN_MAX_ADDR);
    TK_ASSERT(tk_token_format(&t, text, sizeof text) == 0);
    TK_ASSERT(tk_token_parse(&back, text, &e) == 0);
    TK_ASSERT(memcmp(&t, &back, sizeof t) == 0);
  } else {
    TK_ASSERT(e.code == TK_EFORMAT && e.msg[0]);
  }
  free(s);
  return 0;
}
