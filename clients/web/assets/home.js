// home.js: what needs attention (GET /api/status) and "Sync now" with live
// progress (POST /api/sync, then GET /api/sync every 500 ms while running).

import { el, clear, formatBytes } from './dom.js';
import { api, localTime, errorText, go, announce } from './app.js';
import { t } from './i18n.js';

function sum(vaults, key) {
  return (vaults || []).reduce((n, v) => n + (Number(v[key]) || 0), 0);
}

export async function render(root) {
  const status = await api('GET', '/api/status');
  let timer = 0;
  let stopped = false;

  root.appendChild(el('h1', { text: t('home_title') }));

  const v = status.vaults || [];
  const items = [
    { key: 'att_unsent', n: sum(v, 'not_yet_sent'), href: '#/records?state=unsent' },
    { key: 'att_refused', n: sum(v, 'refused') + sum(v, 'read_only'), href: '#/records?state=unsent' },
    { key: 'att_held_hub', n: sum(v, 'held_at_hub'), href: '#/records?state=unsent' },
    { key: 'att_conflicts', n: Number(status.conflicts) || 0, href: '#/conflicts' },
    { key: 'att_incomplete', n: Number(status.incomplete) || 0, href: '#/records?state=incomplete' },
    { key: 'att_quarantine', n: Number(status.quarantine) || sum(v, 'held_here'), href: '#/quarantine' },
  ];
  const list = el('ul', { class: 'attention', 'aria-label': t('attention') });
  for (const it of items) {
    list.appendChild(el('li', { class: it.n > 0 ? 'warn' : 'ok' },
      el('a', { href: it.href },
        el('span', { class: 'count', text: String(it.n) }),
        el('span', { class: 'what', text: t(it.key) }))));
  }
  const allWell = items.every((it) => it.n === 0);
  root.appendChild(el('section', { class: 'card', 'aria-labelledby': 'att-h' },
    el('h2', { id: 'att-h', text: t('attention') }),
    el('p', { class: allWell ? 'good' : 'lead', text: allWell ? t('all_well') : t('some_attention') }),
    list));

  // The revisions not at the hub, each with the hub's reason and what to do.
  if (Array.isArray(status.unsent) && status.unsent.length) {
    const tbl = el('table', { class: 'list' },
      el('caption', { text: t('unsent_caption') }),
      el('thead', {}, el('tr', {}, [t('col_record'), t('col_vault'), t('col_state'), t('col_reason'), t('col_todo')].map((h) => el('th', { scope: 'col', text: h })))),
      el('tbody', {}, status.unsent.slice(0, 200).map((u) => el('tr', {},
        el('td', {}, el('a', { href: '#/record/' + u.record, text: String(u.record || '').slice(0, 8) })),
        el('td', { text: u.vault || '' }),
        el('td', { text: t('unsent_' + String(u.state || '').replace('-', '_')) || u.state }),
        el('td', { text: u.reason || '' }),
        el('td', { text: u.todo || '' })))));
    root.appendChild(el('section', { class: 'card' }, tbl));
  }

  // Sync.
  const hub = status.hub;
  const last = el('p', { id: 'last-sync' });
  const outcome = el('p', { id: 'sync-outcome', role: 'status', 'aria-live': 'polite' });
  const prog = el('div', { class: 'progress', id: 'sync-progress', hidden: true });
  const btn = el('button', { type: 'button', class: 'primary', id: 'sync-now' }, t('sync_now'));
  root.appendChild(el('section', { class: 'card', 'aria-labelledby': 'sync-h' },
    el('h2', { id: 'sync-h', text: t('sync_title') }),
    el('p', { text: hub ? t('hub_is', { name: hub.name || hub.address || '', id: hub.id || '' }) : t('no_hub') }),
    last, el('div', { class: 'actions' }, btn), prog, outcome));

  function showLast(s) {
    const at = status.last_sync ? localTime(Number(status.last_sync) * 1000) : '';
    const l = s && s.last;
    if (l && l.at) {
      last.textContent = t('last_sync_at', { time: localTime(Number(l.at) * 1000) });
    } else {
      last.textContent = at ? t('last_sync_at', { time: at }) : t('never_synced');
    }
  }

  function showProgress(p) {
    clear(prog);
    prog.hidden = false;
    const recs = t('prog_records', { sent: p.sent || 0, received: p.received || 0 });
    const files = t('prog_files', {
      out: formatBytes(p.chunk_bytes_out || 0), in: formatBytes(p.chunk_bytes_in || 0),
      chunks: (p.chunks_sent || 0) + (p.chunks_received || 0),
    });
    prog.appendChild(el('span', { class: 'spinner', 'aria-hidden': 'true' }));
    prog.appendChild(el('span', { id: 'prog-records', text: recs }));
    prog.appendChild(el('span', { id: 'prog-files', text: files }));
  }

  function showOutcome(s) {
    prog.hidden = true;
    const l = s.last;
    if (!l) return;
    outcome.className = l.ok ? 'good' : 'error';
    outcome.textContent = (l.ok ? t('sync_ok') : t('sync_failed')) + (l.message ? ' ' + l.message : '');
  }

  async function poll() {
    if (stopped) return;
    let s;
    try { s = await api('GET', '/api/sync'); } catch (e) { outcome.textContent = errorText(e); btn.disabled = false; return; }
    if (stopped) return;
    if (s.running) {
      showProgress(s.progress || {});
      timer = setTimeout(poll, 500);
    } else {
      btn.disabled = false;
      btn.textContent = t('sync_now');
      showOutcome(s);
      showLast(s);
      if (s.last) announce(outcome.textContent, s.last.ok ? 'good' : 'error');
      // The counts above changed: draw the screen again (it shows the outcome).
      go('#/home');
    }
  }

  btn.addEventListener('click', async () => {
    btn.disabled = true;
    btn.textContent = t('syncing');
    outcome.textContent = '';
    outcome.className = '';
    showProgress({});
    try {
      await api('POST', '/api/sync');
    } catch (e) {
      if (e.status !== 409) { btn.disabled = false; btn.textContent = t('sync_now'); prog.hidden = true; outcome.className = 'error'; outcome.textContent = errorText(e); return; }
    }
    timer = setTimeout(poll, 500);
  });

  const s = status.sync || null;
  showLast(s);
  if (s && s.last && !s.running) showOutcome(s);
  if (s && s.running) { btn.disabled = true; btn.textContent = t('syncing'); showProgress(s.progress || {}); timer = setTimeout(poll, 500); }

  return { cleanup() { stopped = true; clearTimeout(timer); } };
}
