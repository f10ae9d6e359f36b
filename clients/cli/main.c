/* main.c: the tunduk office command (placeholder until the CLI lands). */
#include <stdio.h>
int main(void)
{
  puts("tunduk");
  return 0;
}
