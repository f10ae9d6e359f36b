/*
 * cmd_attach.c: the attachment commands: attach (a file into a new
 * revision), attachments (list a record's files and whether they are all
 * here), get (decrypt one to a file, every chunk and the whole file's hash
 * checked).
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cmd_attach(cli_t *c)
{
  char rev[2 * TK_REV_ID_LEN + 1];
  const char *path = c->args[1], *name = c->name;
  if (!name) {
    name = strrchr(path, '/');
    name = name ? name + 1 : path;
  }
  int rc = tk_office_name_check("attachment", name, &c->err);
  if (!rc) rc = cli_open(c, 0);
  if (!rc) rc = tk_office_record_attach(c->office, c->args[0], path, name, rev, &c->err);
  if (rc) return cli_fail(c, rc);
  printf("%s\n", rev);
  return EXIT_OK;
}

int cmd_attachments(cli_t *c)
{
  json_t *list = NULL, *a;
  size_t i;
  int rc = cli_open(c, 0);
  if (!rc) rc = tk_office_attachments(c->office, c->args[0], &list, &c->err);
  if (rc) return cli_fail(c, rc);
  if (c->json) {
    cli_print_json(list);
    json_decref(list);
    return EXIT_OK;
  }
  json_array_foreach(list, i, a)
  {
    json_int_t here = json_integer_value(json_object_get(a, "chunks_here")),
               total = json_integer_value(json_object_get(a, "chunks"));
    printf("%-32s %12llu bytes  sha256 %.16s  %s\n",
           json_string_value(json_object_get(a, "name")),
           (unsigned long long)json_integer_value(json_object_get(a, "size")),
           json_string_value(json_object_get(a, "sha256")),
           here == total ? "complete" : "incomplete");
    if (here != total)
      printf("%-32s %u of %u chunks here; sync to fetch the rest\n", "", (unsigned)here,
             (unsigned)total);
  }
  if (json_array_size(list) == 0)
    fprintf(stderr, "tunduk: the record has no attachments\n");
  json_decref(list);
  return EXIT_OK;
}

int cmd_get(cli_t *c)
{
  if (!c->output) return cli_usage("'get' needs -o OUT (a file, or - for stdout)");
  int rc = cli_open(c, 0);
  if (!rc)
    rc = tk_office_attachment_get(c->office, c->args[0], c->args[1], c->output, &c->err);
  return rc ? cli_fail(c, rc) : EXIT_OK;
}
