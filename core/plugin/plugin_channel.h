/*
 * plugin_channel.h: the protocol between tunduk's processes and their
 * jailed plugin workers (plugin_worker.c, the parent's side, and
 * plugin_worker_main.c, the worker's side; the protocol is described in
 * plugin_worker.c's header): the operation codes, the frame limit, and the
 * encoding, decoding and blocking I/O both sides share (plugin_channel.c).
 * Internal to the plugin host. Threads: any; the functions keep no state
 * but tk__pc_in_worker, set once in the worker before it reads a frame.
 */
#ifndef TK_PLUGIN_CHANNEL_H
#define TK_PLUGIN_CHANNEL_H

#include "plugin_host.h"

#define TK__PC_MAX_FRAME (4u * TK_MAX_BODY_JSON + (1u << 16))
#define TK__PC_ABSENT 0xffffffffu

enum {
  TK__W_INIT = 1,
  TK__W_ADD,
  TK__W_VALIDATE,
  TK__W_SUMMARY,
  TK__W_MERGE,
  TK__W_CHECK,
  TK__W_EXPORT,
  TK__W_RESULT,
  TK__W_NEXT,
  TK__W_RECORD,
  TK__W_OUT,
  TK__W_ACK,
  TK__W_CHECK_MANY,
  TK__W_ITEM,
  TK__W_VALIDATE_MANY,
  TK__W_SUMMARY_MANY
};

typedef struct tk__pc_rd {
  const uint8_t *p;
  size_t n;
  int bad;
} tk__pc_rd_t;

/* Set in the worker: it writes with write(2) (its jail allows no send) and
 * keeps the default SIGPIPE; the parent sends with MSG_NOSIGNAL. */
extern int tk__pc_in_worker;

int tk__pc_put_u32(tk_buf_t *b, uint32_t v);
int tk__pc_put_u64(tk_buf_t *b, uint64_t v);
int tk__pc_put_str(tk_buf_t *b, const void *p, size_t n);
int tk__pc_put_cstr(tk_buf_t *b, const char *s);
int tk__pc_frame_begin(tk_buf_t *b, int op);
int tk__pc_frame_end(tk_buf_t *b);
uint32_t tk__pc_get_u32(tk__pc_rd_t *r);
uint64_t tk__pc_get_u64(tk__pc_rd_t *r);
tk_slice_t tk__pc_get_str(tk__pc_rd_t *r);
const char *tk__pc_get_cstr(tk__pc_rd_t *r);
int tk__pc_put_meta(tk_buf_t *b, const tk_plugin_meta_t *m);
void tk__pc_get_meta(tk__pc_rd_t *r, tk_plugin_meta_t *m);
int tk__pc_send_all(int fd, const uint8_t *p, size_t n);
uint64_t tk__pc_now_ms(void);
int tk__pc_recv_all(int fd, uint8_t *p, size_t n, uint64_t deadline_ms);
int tk__pc_recv_frame(int fd, tk_buf_t *b, uint64_t deadline_ms, int *op, tk__pc_rd_t *r);

#endif
