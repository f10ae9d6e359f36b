// record.js: one record: labelled fields, attachments (upload with
// progress, download, preview of images, audio and PDF), the history with
// device names and local times, a diff of any two revisions, and the
// actions (edit, delete, undelete, report for cases).

import { el, clear, formatBytes, shortId, labelled, select } from './dom.js';
import { api, state, types, schema, typeLabel, labelOf, localTime, announce, errorText, go, tzOffset, recordTitle } from './app.js';
import { bodyView, compare, valueNode } from './view.js';
import { lang, t } from './i18n.js';

const IMAGE = /\.(png|jpe?g|gif|webp|bmp)$/i;
const AUDIO = /\.(mp3|ogg|oga|opus|wav|m4a|aac|flac|webm)$/i;
const PDF = /\.pdf$/i;

function attachmentUrl(id, name, inline) {
  return '/api/records/' + id + '/attachments/' + encodeURIComponent(name) + (inline ? '?inline=1' : '');
}

export async function render(root, params, query) {
  const id = params[0];
  await types();
  const rev = query.get('rev');
  const d = await api('GET', '/api/records/' + id + (rev ? '?rev=' + encodeURIComponent(rev) : ''));
  const meta = d.meta || {};
  const type = meta.type;
  const sch = d.form || await schema(type);
  const fullId = meta.record || id;

  const title = recordTitle(sch, d.body, d.summary, type, fullId);
  root.appendChild(el('p', { class: 'crumbs' }, el('a', { href: '#/records?type=' + encodeURIComponent(type || ''), text: labelOf(sch, typeLabel(type)) })));
  root.appendChild(el('h1', { text: title }));

  const facts = el('p', { class: 'facts' },
    el('span', {}, t('vault') + ': ', el('strong', { text: meta.vault || '' })),
    el('span', {}, t('changed') + ': ', el('time', { text: localTime(meta.time) })),
    el('span', {}, t('record_id') + ': ', el('code', { text: fullId })));
  root.appendChild(facts);

  if (rev) root.appendChild(el('p', { class: 'notice warn' }, t('showing_revision', { rev: shortId(rev) }), ' ', el('a', { href: '#/record/' + fullId, text: t('show_current') })));
  if (d.deleted) root.appendChild(el('p', { class: 'notice warn', text: t('record_deleted') }));
  if (d.nheads > 1) root.appendChild(el('p', { class: 'notice warn' }, t('record_conflict', { n: d.nheads }), ' ', el('a', { href: '#/conflict/' + fullId, id: 'go-resolve', text: t('resolve_conflict') })));
  if (d.refused) root.appendChild(el('p', { class: 'notice warn', text: t('record_refused', { n: d.refused }) }));
  if (d.not_winner) root.appendChild(el('p', { class: 'notice', text: t('record_not_winner') }));

  // Actions.
  const actions = el('div', { class: 'actions' });
  if (!d.deleted && !rev) actions.appendChild(el('a', { class: 'button primary', href: '#/edit/' + fullId, id: 'edit' }, t('edit')));
  if (type === 'case' && !d.deleted) {
    const p = new URLSearchParams({ record: fullId, lang: lang(), tz: String(tzOffset()) });
    actions.appendChild(el('a', { class: 'button secondary', href: '/api/report?' + p.toString(), target: '_blank', rel: 'noopener', id: 'report' }, t('report')));
  }
  if (!d.deleted && !rev) {
    actions.appendChild(el('button', { type: 'button', class: 'secondary danger', id: 'delete', on: { click: async () => {
      if (!window.confirm(t('confirm_delete'))) return;
      try { await api('POST', '/api/records/' + fullId + '/delete'); announce(t('deleted'), 'good'); go('#/record/' + fullId); } catch (e) { announce(errorText(e), 'error'); }
    } } }, t('delete')));
  }
  if (d.deleted && !rev) {
    actions.appendChild(el('button', { type: 'button', class: 'primary', id: 'undelete', on: { click: () => undelete(fullId) } }, t('undelete')));
  }
  root.appendChild(actions);

  root.appendChild(el('section', { class: 'card', 'aria-labelledby': 'fields-h' },
    el('h2', { id: 'fields-h', text: t('fields') }), bodyView(sch, d.body)));

  // Attachments.
  root.appendChild(attachmentsSection(fullId, d, !d.deleted && !rev));

  // History and diff.
  const histBox = el('section', { class: 'card', 'aria-labelledby': 'hist-h' }, el('h2', { id: 'hist-h', text: t('history') }));
  root.appendChild(histBox);
  loadHistory(histBox, fullId, sch);
  return null;
}

async function undelete(id) {
  // The body to bring back: the newest revision that is not a deletion.
  try {
    const hist = await api('GET', '/api/records/' + id + '/history');
    const live = hist.slice().reverse().find((h) => !h.deleted);
    if (!live) { announce(t('undelete_nothing'), 'error'); return; }
    const old = await api('GET', '/api/records/' + id + '?rev=' + live.revision);
    await api('POST', '/api/records/' + id + '/undelete', { body: old.body || {} });
    announce(t('undeleted'), 'good');
    go('#/record/' + id);
  } catch (e) {
    announce(errorText(e), 'error');
  }
}

function attachmentsSection(id, d, canUpload) {
  const sec = el('section', { class: 'card', 'aria-labelledby': 'att-h2' }, el('h2', { id: 'att-h2', text: t('attachments') }));
  const list = el('ul', { class: 'attachments' });
  const atts = Array.isArray(d.attachments) ? d.attachments : [];
  if (!atts.length) list.appendChild(el('li', { class: 'muted', text: t('no_attachments') }));
  for (const a of atts) {
    const complete = a.complete !== false && !(a.chunks_here !== undefined && a.chunks !== undefined && a.chunks_here < a.chunks);
    const li = el('li', { class: 'attachment' },
      el('div', { class: 'att-line' },
        el('strong', { text: a.name }), ' ',
        el('span', { class: 'muted', text: formatBytes(a.size) }), ' ',
        complete
          ? el('a', { href: attachmentUrl(id, a.name, false), download: a.name, class: 'button small secondary', 'aria-label': t('download_named', { name: a.name }) }, t('download'))
          : el('span', { class: 'badge', text: t('att_parts', { here: a.chunks_here || 0, all: a.chunks || 0 }) })));
    if (complete) {
      const src = attachmentUrl(id, a.name, true);
      let prev = null;
      if (IMAGE.test(a.name)) prev = el('img', { src, alt: t('preview_of', { name: a.name }), class: 'preview-img', loading: 'lazy' });
      else if (AUDIO.test(a.name)) prev = el('audio', { src, controls: true, preload: 'none', 'aria-label': t('preview_of', { name: a.name }) });
      else if (PDF.test(a.name)) {
        const btn = el('button', { type: 'button', class: 'link' }, t('show_pdf'));
        prev = el('div', {}, btn);
        btn.addEventListener('click', () => { clear(prev); prev.appendChild(el('iframe', { src, title: t('preview_of', { name: a.name }), class: 'preview-pdf' })); });
      }
      if (prev) li.appendChild(el('div', { class: 'preview' }, prev));
    }
    list.appendChild(li);
  }
  sec.appendChild(list);
  if (!canUpload) return sec;

  const file = el('input', { type: 'file', id: 'attach-file' });
  const nameIn = el('input', { type: 'text', id: 'attach-name', autocomplete: 'off' });
  const prog = el('progress', { max: '100', value: '0', hidden: true, id: 'upload-progress', 'aria-label': t('upload_progress') });
  const msg = el('p', { id: 'upload-msg', role: 'status', 'aria-live': 'polite' });
  const btn = el('button', { type: 'submit', class: 'primary', id: 'upload' }, t('upload'));
  file.addEventListener('change', () => { if (file.files[0] && !nameIn.value) nameIn.value = file.files[0].name; });
  const form = el('form', { class: 'upload', on: { submit: (e) => {
    e.preventDefault();
    const f = file.files[0];
    if (!f) { msg.className = 'error'; msg.textContent = t('choose_file'); file.focus(); return; }
    const name = nameIn.value.trim() || f.name;
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/api/records/' + id + '/attachments?name=' + encodeURIComponent(name));
    xhr.setRequestHeader('X-Tunduk-CSRF', state.session.csrf);
    xhr.setRequestHeader('Content-Type', 'application/octet-stream');
    prog.hidden = false;
    prog.value = 0;
    btn.disabled = true;
    msg.className = '';
    msg.textContent = t('uploading', { name });
    xhr.upload.addEventListener('progress', (ev) => {
      if (ev.lengthComputable) {
        prog.value = Math.round((ev.loaded / ev.total) * 100);
        msg.textContent = t('uploading_bytes', { name, done: formatBytes(ev.loaded), all: formatBytes(ev.total) });
      }
    });
    xhr.addEventListener('load', () => {
      btn.disabled = false;
      if (xhr.status >= 200 && xhr.status < 300) {
        announce(t('uploaded', { name }), 'good');
        go('#/record/' + id);
        return;
      }
      let m = 'HTTP ' + xhr.status;
      try { const j = JSON.parse(xhr.responseText); if (j.error) m = j.error.message; } catch (err) { /* keep */ }
      prog.hidden = true;
      msg.className = 'error';
      msg.textContent = t('upload_failed', { message: m });
      if (xhr.status === 423) import('./app.js').then((a) => a.locked());
    });
    xhr.addEventListener('error', () => { btn.disabled = false; prog.hidden = true; msg.className = 'error'; msg.textContent = t('upload_failed', { message: t('err_network') }); });
    xhr.send(f);
  } } },
  el('h3', { text: t('add_file') }),
  el('div', { class: 'row' }, labelled(t('file'), file), labelled(t('file_name'), nameIn)),
  el('div', { class: 'actions' }, btn, prog), msg);
  sec.appendChild(form);
  return sec;
}

async function loadHistory(box, id, sch) {
  let hist;
  try { hist = await api('GET', '/api/records/' + id + '/history'); } catch (e) { box.appendChild(el('p', { class: 'error', text: errorText(e) })); return; }
  const ol = el('ol', { class: 'timeline' });
  for (let i = hist.length - 1; i >= 0; i--) {
    const h = hist[i];
    const who = h.author_name || (t('unknown_device') + ' ' + shortId(h.author));
    ol.appendChild(el('li', {},
      el('time', { text: localTime(h.time) }), ' ',
      el('span', { class: 'who', text: who }), !h.author_known && h.author_name ? el('span', { class: 'muted', text: ' (' + t('not_verified') + ')' }) : null,
      ' ', h.deleted ? el('span', { class: 'badge muted', text: t('badge_deleted') }) : null,
      (h.parents || []).length > 1 ? el('span', { class: 'badge', text: t('badge_merge') }) : null,
      ' ', el('a', { href: '#/record/' + id + '?rev=' + h.revision, 'aria-label': t('view_revision_at', { time: localTime(h.time) }) }, el('code', { text: shortId(h.revision) }))));
  }
  box.appendChild(ol);
  if (hist.length < 2) return;

  const opts = hist.map((h, i) => ({ value: h.revision, label: (i + 1) + '. ' + localTime(h.time) + ' · ' + (h.author_name || shortId(h.author)) }));
  const a = select(opts, hist[hist.length - 2].revision, { id: 'diff-a' });
  const b = select(opts, hist[hist.length - 1].revision, { id: 'diff-b' });
  const out = el('div', { class: 'diff-out', id: 'diff-out' });
  const form = el('form', { class: 'diff-form', on: { submit: async (e) => {
    e.preventDefault();
    clear(out);
    out.appendChild(el('p', { text: t('loading') }));
    try {
      const [ra, rb] = await Promise.all([a.value, b.value].map((r) => api('GET', '/api/records/' + id + '?rev=' + r)));
      clear(out);
      out.appendChild(diffTable(sch, ra.body, rb.body, a.options[a.selectedIndex].text, b.options[b.selectedIndex].text));
    } catch (err) { clear(out); out.appendChild(el('p', { class: 'error', text: errorText(err) })); }
  } } },
  el('h3', { text: t('compare_title') }),
  el('div', { class: 'row' }, labelled(t('compare_from'), a), labelled(t('compare_to'), b)),
  el('div', { class: 'actions' }, el('button', { type: 'submit', class: 'secondary', id: 'compare' }, t('compare'))));
  box.appendChild(form);
  box.appendChild(out);
}

export function diffTable(sch, A, B, la, lb) {
  const rows = compare(sch, A, B);
  const changed = rows.filter((r) => !r.same).length;
  return el('div', {},
    el('p', { text: changed ? t('diff_changed', { n: changed }) : t('diff_same') }),
    el('table', { class: 'diff' },
      el('thead', {}, el('tr', {}, el('th', { scope: 'col', text: t('col_field') }), el('th', { scope: 'col', text: la }), el('th', { scope: 'col', text: lb }))),
      el('tbody', {}, rows.map((r) => el('tr', { class: r.same ? 'same' : 'changed' },
        el('th', { scope: 'row' }, r.label, r.same ? null : el('span', { class: 'sr-only', text: ' (' + t('changed_field') + ')' })),
        el('td', {}, valueNode(r.f, r.a)), el('td', {}, valueNode(r.f, r.b)))))));
}
