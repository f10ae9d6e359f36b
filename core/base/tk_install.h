/*
 * tk_install.h: where a tunduk program finds the parts it did not compile
 * in: the plugin worker program and the bundled plugins. Both are looked up
 * relative to the running program's own folder, along the install layout
 * (GNUInstallDirs, CMakeLists.txt): bin/tunduk and bin/tundukd, the worker
 * in libexec/tunduk/, the plugins in share/tunduk/plugins/. The build tree
 * mirrors that layout (build/bin, build/libexec/tunduk, build/share/tunduk
 * /plugins, a link to the source tree's plugins/), so an installed program,
 * one unpacked anywhere (dpkg -x) and one in the build tree all find theirs,
 * and no path of the source or build tree is compiled into a binary.
 *
 * Threads: any; the paths are worked out once (pthread_once).
 */
#ifndef TK_INSTALL_H
#define TK_INSTALL_H

/* The bundled plugin folder of this installation: the running program's
 * folder joined with the relative path from the install's bindir to its
 * datadir/tunduk/plugins. "" if the program's own path cannot be read or
 * the result would not fit; the folder need not exist. A static string. */
const char *tk_install_plugin_dir(void);

/* The plugin worker program (tunduk-plugin-worker) of this installation,
 * found the same way (libexecdir/tunduk/); "" as above. A static string;
 * the file need not exist. */
const char *tk_install_worker_path(void);

#endif
