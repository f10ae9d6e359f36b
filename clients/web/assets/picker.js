// picker.js: the searchable record picker for ref fields (a combobox over
// GET /api/records?type=<ref_type>&q=...), and the summaries of records
// named by id.

import { el, clear, debounce, nextId, shortId } from './dom.js';
import { api, typeLabel } from './app.js';
import { t } from './i18n.js';

const summaries = new Map(); // id -> Promise<string>

// A record's one-line summary, for a ref that names it.
export function refSummary(id) {
  if (!id) return Promise.resolve('');
  if (!summaries.has(id)) {
    summaries.set(id, api('GET', '/api/records/' + encodeURIComponent(id)).then((d) => {
      if (d.summary) return d.summary;
      const b = d.body || {};
      const parts = Object.values(b).filter((v) => typeof v === 'string' && v.length < 80).slice(0, 3);
      return parts.join(' · ') || shortId(id);
    }, (e) => (e.status === 404 ? t('ref_missing') : shortId(id))));
  }
  return summaries.get(id);
}

export function rememberSummary(id, summary) {
  if (id && summary) summaries.set(id, Promise.resolve(summary));
}

// picker({refType, value, label, onChange}) -> {node, input, get(), set(id)}
// label names the field for screen readers ("Related case").
export function picker(opts) {
  let value = opts.value || '';
  const listId = nextId('lb');
  const input = el('input', {
    type: 'search', role: 'combobox', autocomplete: 'off', 'aria-autocomplete': 'list',
    'aria-expanded': 'false', 'aria-controls': listId,
    placeholder: t('picker_placeholder', { type: typeLabel(opts.refType) || '' }),
  });
  if (opts.id) input.id = opts.id;
  const list = el('ul', { role: 'listbox', id: listId, class: 'picker-list', hidden: true, 'aria-label': opts.label || '' });
  const chosen = el('div', { class: 'picker-chosen' });
  const node = el('div', { class: 'picker' }, chosen, el('div', { class: 'picker-search' }, input, list));
  let options = [];
  let active = -1;
  let seq = 0;

  function showChosen() {
    clear(chosen);
    if (!value) {
      chosen.appendChild(el('span', { class: 'muted', text: t('picker_none') }));
      return;
    }
    const sum = el('a', { href: '#/record/' + value, class: 'picker-summary', target: '_blank', rel: 'noopener' }, t('loading'));
    chosen.appendChild(sum);
    chosen.appendChild(el('code', { class: 'muted', text: ' ' + shortId(value) }));
    chosen.appendChild(el('button', {
      type: 'button', class: 'link', 'aria-label': t('picker_clear_label', { field: opts.label || '' }),
      on: { click: () => { set(''); input.focus(); } },
    }, t('picker_clear')));
    refSummary(value).then((s) => { sum.textContent = s; });
  }

  function set(id, summary) {
    value = id || '';
    if (summary) rememberSummary(id, summary);
    showChosen();
    if (opts.onChange) opts.onChange(value);
  }

  function close() {
    list.hidden = true;
    input.setAttribute('aria-expanded', 'false');
    input.removeAttribute('aria-activedescendant');
    active = -1;
  }

  function setActive(i) {
    const items = list.querySelectorAll('[role=option]');
    if (!items.length) return;
    active = (i + items.length) % items.length;
    items.forEach((li, j) => li.setAttribute('aria-selected', j === active ? 'true' : 'false'));
    input.setAttribute('aria-activedescendant', items[active].id);
    items[active].scrollIntoView({ block: 'nearest' });
  }

  function choose(i) {
    const r = options[i];
    if (!r) return;
    set(r.id, r.summary);
    input.value = '';
    close();
  }

  const search = debounce(async () => {
    const my = ++seq;
    const p = new URLSearchParams({ limit: '20' });
    if (opts.refType) p.set('type', opts.refType);
    if (input.value.trim()) p.set('q', input.value.trim());
    let res;
    try { res = await api('GET', '/api/records?' + p.toString()); } catch (e) { return; }
    if (my !== seq) return;
    options = (res.records || []).filter((r) => !r.deleted);
    clear(list);
    if (!options.length) {
      list.appendChild(el('li', { class: 'muted', role: 'option', 'aria-disabled': 'true', id: nextId('opt') }, t('picker_nothing')));
    }
    options.forEach((r, i) => {
      list.appendChild(el('li', {
        role: 'option', id: nextId('opt'), 'aria-selected': 'false', dataset: { id: r.id },
        on: { mousedown: (e) => { e.preventDefault(); choose(i); } },
      }, el('span', { text: r.summary || shortId(r.id) }), ' ', el('code', { class: 'muted', text: shortId(r.id) })));
    });
    list.hidden = false;
    input.setAttribute('aria-expanded', 'true');
    active = -1;
  }, 200);

  input.addEventListener('input', search);
  input.addEventListener('focus', search);
  input.addEventListener('blur', () => setTimeout(close, 150));
  input.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowDown') { e.preventDefault(); if (list.hidden) search(); else setActive(active + 1); }
    else if (e.key === 'ArrowUp') { e.preventDefault(); setActive(active - 1); }
    else if (e.key === 'Enter') { if (!list.hidden && active >= 0) { e.preventDefault(); choose(active); } else if (!list.hidden && options.length === 1) { e.preventDefault(); choose(0); } }
    else if (e.key === 'Escape') { close(); }
  });

  showChosen();
  return { node, input, get: () => value, set };
}
