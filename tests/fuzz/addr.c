/*
 * addr.c (fuzz target "addr"): tk_addr_split on arbitrary text. A split
 * address must give a host of 1..TK_TOKEN_MAX_ADDR bytes and a port in
 * 0..65535.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz_fixture.h"
#include "tk_token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char *host = malloc(TK_TOKEN_MAX_ADDR + 1);
  char *s = malloc(size + 1);
  int port = -1;
  fz_init();
  if (!s || !host) goto done;
  memcpy(s, data, size);
  s[size] = '\0';
  if (tk_addr_split(s, host, &port) == 0) {
    size_t n = strlen(host);
    TK_ASSERT(n >= 1 && n <= TK_TOKEN_MAX_ADDR);
    TK_ASSERT(port >= 0 && port <= 65535);
  }
done:
  free(s);
  free(host);
  return 0;
}
