/*
 * tunduk-plugin-worker: the jailed process in which tunduk and tundukd run
 * Lua plugins (core/plugin/plugin_worker.c, core/plugin/tk_plugin_jail.h). Started by
 * them with its channel on fd 3; installed beside them.
 */
#include "tk_plugin.h"

int main(int argc, char **argv)
{
  return tk_plugin_worker_main(argc, argv);
}
