/*
 * revision.c: the revision envelope (see tk_revision.h for the encoding).
 * Any thread.
 */
#include "tk_revision.h"

#include <string.h>

int tk_rev_winner_cmp(uint32_t gen_a, const uint8_t id_a[TK_REV_ID_LEN], uint32_t gen_b,
                      const uint8_t id_b[TK_REV_ID_LEN])
{
  if (gen_a != gen_b) return gen_a > gen_b ? 1 : -1;
  int c = memcmp(id_a, id_b, TK_REV_ID_LEN);
  return c > 0 ? 1 : c < 0 ? -1 : 0;
}
