/*
 * conn_idle.c: the idle rule of an open connection (tk_conn.h): progress,
 * not silence, decides. The peer is alive while it sends us bytes or takes
 * ours (our user-space queue or the kernel's unacknowledged send queue
 * shrinking); a frame in progress must keep the minimum rate. conn.c's
 * timer calls tk__conn_idle_check. Loop thread only.
 */
#include <sys/ioctl.h>
#if defined(__linux__)
#include <linux/sockios.h> /* SIOCOUTQ */
#endif

#include "conn_internal.h"

#define PROGRESS_CHECK_MS 1000 /* longest gap between looks at the send queues */

size_t tk__conn_write_queue(const tk_conn_t *c)
{
  return (c->plain.n - c->plain_off) + c->obuf.n + c->inflight;
}

/* Bytes the kernel accepted from us that the peer has not acknowledged
 * yet (Linux: SIOCOUTQ; elsewhere TIOCOUTQ where it exists), 0 when it
 * cannot tell. uv_write completes once bytes are in the send buffer,
 * which can hold a large part of a batch: while this shrinks, the peer is
 * reading what we send. */
size_t tk__conn_kernel_queue(const tk_conn_t *c)
{
  uv_os_fd_t fd;
  int n = 0;
  if (c->memory || c->finishing || uv_fileno((const uv_handle_t *)&c->tcp, &fd) != 0)
    return 0;
#if defined(SIOCOUTQ)
  if (ioctl(fd, SIOCOUTQ, &n) != 0) n = 0;
#elif defined(TIOCOUTQ)
  if (ioctl(fd, TIOCOUTQ, &n) != 0) n = 0;
#endif
  return n > 0 ? (size_t)n : 0;
}

/* Looks at both send queues (ours in user space, the kernel's): when
 * either shrank since the last look, our bytes moved, so the peer is
 * alive and the stall clock restarts. Returns what is still pending. */
size_t tk__conn_note_tx_progress(tk_conn_t *c, uint64_t now)
{
  size_t user = tk__conn_write_queue(c), kern = tk__conn_kernel_queue(c);
  if (user < c->seen_user_q || kern < c->seen_kernel_q) c->tx_since = now;
  if (user + kern > 0 && c->seen_user_q + c->seen_kernel_q == 0) c->tx_since = now;
  c->seen_user_q = user;
  c->seen_kernel_q = kern;
  return user + kern;
}

/* How long the frame in progress may have taken so far, since its header
 * arrived (or reading resumed): the idle timeout plus what has actually
 * arrived of it at frame_min_rate. The announced length plays no part, so
 * a peer that announces a large frame and trickles it gains nothing: it
 * must keep the average rate up once the idle allowance is spent. */
uint64_t tk__conn_frame_allowance(const tk_conn_t *c)
{
  return (uint64_t)c->idle_ms +
         (uint64_t)(c->flen - c->frame_base) * 1000 / c->frame_min_rate;
}

/* When the idle check looks next: at the first deadline (the stall clock,
 * the receive clock unless paused, the frame in progress), and while
 * bytes of ours are pending at least every PROGRESS_CHECK_MS (a quarter
 * of the idle time when that is shorter), so a send queue that moves is
 * seen moving and one that stops is seen within about the idle time. */
void tk__conn_arm_idle_timer(tk_conn_t *c, uint64_t now, size_t pending)
{
  uint64_t idle = c->idle_ms;
  uint64_t quiet =
      now - (c->tx_since > c->last_rx || c->paused ? c->tx_since : c->last_rx);
  uint64_t next = quiet >= idle ? 1 : idle - quiet + 1;
  if (pending > 0) {
    uint64_t step = idle / 4 < PROGRESS_CHECK_MS ? idle / 4 : PROGRESS_CHECK_MS;
    if (step < 10) step = 10;
    uint64_t stall = now - c->tx_since;
    uint64_t left = stall >= idle ? 1 : idle - stall + 1;
    if (left < next) next = left;
    if (step < next) next = step;
  } else if (c->paused) {
    return; /* paused with nothing to send: our own back-pressure, no clock */
  }
  if (!c->paused && c->hdr_got == 4) {
    uint64_t took = now - c->frame_start, allow = tk__conn_frame_allowance(c);
    uint64_t left = took >= allow ? 1 : allow - took + 1;
    if (left < next) next = left;
  }
  uv_timer_start(&c->timer, tk__conn_timer_fired, next, 0);
}

/* While paused: the timer watches only the write stall (none if nothing
 * waits to be written). */
void tk__conn_arm_stall_timer(tk_conn_t *c, uint64_t now)
{
  tk__conn_arm_idle_timer(c, now, tk__conn_note_tx_progress(c, now));
}

/* The idle rule (ST_OPEN). Progress, not silence, decides: the peer is
 * alive while it sends us bytes or takes ours, where taking ours is either
 * send queue shrinking (ours in user space, or the kernel's unsent and
 * unacknowledged bytes). It is gone when for idle_ms nothing arrived and
 * nothing of ours moved ("no data from"), or when bytes of ours waited
 * idle_ms without moving, whether or not it still sends ("took none of").
 * A frame in progress must also keep frame_min_rate (slow-loris). */
void tk__conn_idle_check(tk_conn_t *c, uint64_t now)
{
  size_t pending = tk__conn_note_tx_progress(c, now);
  if (pending > 0 && now - c->tx_since >= c->idle_ms) {
    tk__conn_fail(c, TK_ETIMEDOUT, "%s took none of %zu bytes for %u ms", c->peer,
                  pending, c->idle_ms);
    return;
  }
  if (c->paused) { /* our own back-pressure is not idleness */
    tk__conn_arm_idle_timer(c, now, pending);
    return;
  }
  uint64_t last = c->last_rx > c->tx_since ? c->last_rx : c->tx_since;
  if (now - last >= c->idle_ms) {
    tk__conn_fail(c, TK_ETIMEDOUT, "no data from %s for %u ms", c->peer, c->idle_ms);
  } else if (c->hdr_got == 4 && now - c->frame_start > tk__conn_frame_allowance(c)) {
    /* a frame trickled in (slow-loris): it must keep a minimum rate */
    tk__conn_fail(
        c, TK_ETIMEDOUT,
        "a frame of %zu bytes from %s arrives slower than %u bytes/s (%zu bytes "
        "in %llu ms)",
        c->fneed, c->peer, c->frame_min_rate, c->flen - c->frame_base,
        (unsigned long long)(now - c->frame_start));
  } else {
    tk__conn_arm_idle_timer(c, now, pending);
  }
}
