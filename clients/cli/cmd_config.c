/*
 * cmd_config.c: `tunduk config [KEY [VALUE]]`: the office's settings
 * (tk_office_setting_get/_set): all of them, one, or one set.
 */
#include <stdio.h>

#include "cli.h"

int cmd_config(cli_t *c)
{
  char v[TK_OFFICE_SETTING_MAX + 1];
  int rc = cli_open(c, 0);
  if (rc) return cli_fail(c, rc);
  if (c->nargs == 2) {
    rc = tk_office_setting_set(c->office, c->args[0], c->args[1], &c->err);
    return rc ? cli_fail(c, rc) : EXIT_OK;
  }
  if (c->nargs == 1) {
    rc = tk_office_setting_get(c->office, c->args[0], v, sizeof v);
    if (rc == TK_EINVAL) /* the message naming the allowed keys */
      rc = tk_office_setting_set(c->office, c->args[0], "", &c->err);
    if (rc) return cli_fail(c, rc);
    printf("%s\n", v);
    return EXIT_OK;
  }
  json_t *all = json_object();
  for (size_t i = 0; tk_office_setting_name(i); i++) {
    const char *k = tk_office_setting_name(i);
    if (tk_office_setting_get(c->office, k, v, sizeof v) != 0) continue;
    if (c->json)
      json_object_set_new(all, k, json_string(v));
    else
      printf("%s = %s\n", k, v);
  }
  if (c->json) cli_print_json(all);
  json_decref(all);
  return EXIT_OK;
}
