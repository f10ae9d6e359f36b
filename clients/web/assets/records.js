// records.js: the list with filters (type, vault, state, the enum fields of
// the chosen type), a debounced search (q), paging by "show more", and the
// CSV / JSONL downloads of the same filtered list. The server filters and
// pages; the page renders at most one page (200 rows) per step.

import { el, clear, debounce, select, labelled } from './dom.js';
import { api, state, types, schema, typeLabel, labelOf, valueLabel, localTime, localDate, errorText } from './app.js';
import { t } from './i18n.js';

const PAGE = 200;

export async function render(root, params, query) {
  const [tys, vaults] = await Promise.all([types(), api('GET', '/api/vaults')]);
  const q = new URLSearchParams(query);

  root.appendChild(el('div', { class: 'title-row' },
    el('h1', { text: t('records_title') }),
    el('a', { class: 'button primary', href: '#/new' + (q.get('type') ? '?type=' + encodeURIComponent(q.get('type')) : ''), id: 'new-record' }, t('new_record'))));

  const typeSel = select([{ value: '', label: t('all_types') }].concat(tys.map((x) => ({ value: x.type, label: labelOf(x) }))), q.get('type') || '', { name: 'type' });
  const vaultSel = select([{ value: '', label: t('all_vaults') }].concat((vaults || []).map((v) => ({ value: v.name, label: v.name }))), q.get('vault') || '', { name: 'vault' });
  const stateSel = select([
    { value: '', label: t('state_current') },
    { value: 'unsent', label: t('state_unsent') },
    { value: 'conflict', label: t('state_conflict') },
    { value: 'incomplete', label: t('state_incomplete') },
    { value: 'deleted', label: t('state_deleted') },
    { value: 'all', label: t('state_all') },
  ], q.get('state') || '', { name: 'state' });
  const search = el('input', { type: 'search', name: 'q', value: q.get('q') || '', autocomplete: 'off', placeholder: t('search_placeholder') });
  const enumBox = el('div', { class: 'filters enum-filters' });
  const filters = el('form', { class: 'filters card', role: 'search', 'aria-label': t('filters'), on: { submit: (e) => { e.preventDefault(); reload(); } } },
    labelled(t('search'), search),
    labelled(t('type'), typeSel),
    labelled(t('vault'), vaultSel),
    labelled(t('state'), stateSel),
    enumBox);
  root.appendChild(filters);

  const count = el('p', { class: 'count-line', id: 'records-count', role: 'status', 'aria-live': 'polite' });
  const exportBox = el('p', { class: 'exports' });
  root.appendChild(el('div', { class: 'list-head' }, count, exportBox));
  const tbody = el('tbody');
  const table = el('table', { class: 'list records', id: 'records-table' },
    el('caption', { class: 'sr-only', text: t('records_title') }),
    el('thead', {}, el('tr', {},
      el('th', { scope: 'col', text: t('col_summary') }),
      el('th', { scope: 'col', text: t('col_type') }),
      el('th', { scope: 'col', text: t('col_vault') }),
      el('th', { scope: 'col', text: t('col_time') }))),
    tbody);
  root.appendChild(el('div', { class: 'table-wrap' }, table));
  const more = el('button', { type: 'button', class: 'secondary', id: 'show-more', hidden: true }, t('show_more'));
  root.appendChild(el('div', { class: 'actions center' }, more));

  let enumSels = [];
  let curSchema = null;
  let offset = 0;
  let seq = 0;

  async function buildEnumFilters() {
    clear(enumBox);
    enumSels = [];
    curSchema = null;
    const ty = typeSel.value;
    if (!ty) return;
    try { curSchema = await schema(ty); } catch (e) { return; }
    for (const f of curSchema.fields || []) {
      if (f.kind !== 'enum') continue;
      const s = select([{ value: '', label: t('any') }].concat((f.values || []).map((v) => ({ value: v, label: valueLabel(f, v) }))), q.get('f.' + f.name) || '', { name: 'f.' + f.name });
      s.addEventListener('change', reload);
      enumSels.push(s);
      enumBox.appendChild(labelled(labelOf(f), s));
    }
  }

  function params() {
    const p = new URLSearchParams();
    if (typeSel.value) p.set('type', typeSel.value);
    if (vaultSel.value) p.set('vault', vaultSel.value);
    if (stateSel.value) p.set('state', stateSel.value);
    if (search.value.trim()) p.set('q', search.value.trim());
    for (const s of enumSels) if (s.value) p.set(s.name, s.value);
    return p;
  }

  function rowOf(r) {
    const badges = [];
    if (r.nheads > 1) badges.push(el('span', { class: 'badge warn', text: t('badge_conflict') }));
    if (r.deleted) badges.push(el('span', { class: 'badge muted', text: t('badge_deleted') }));
    if (r.incomplete) badges.push(el('span', { class: 'badge', text: t('badge_incomplete') }));
    if (r.refused) badges.push(el('span', { class: 'badge warn', text: t('badge_refused') }));
    if (r.readable === false) badges.push(el('span', { class: 'badge muted', text: t('badge_unreadable') }));
    const summary = r.summary || (r.readable === false ? t('no_key') : r.id.slice(0, 8));
    return el('tr', {},
      el('td', {}, el('a', { href: '#/record/' + r.id, text: summary }), badges.length ? ' ' : null, badges),
      el('td', { text: typeLabel(r.type) }),
      el('td', { text: r.vault }),
      el('td', {}, el('time', { datetime: new Date(Number(r.time)).toISOString(), text: localTime(r.time) })));
  }

  async function load(append) {
    const my = ++seq;
    const p = params();
    p.set('offset', String(append ? offset : 0));
    p.set('limit', String(PAGE));
    if (!append) count.textContent = t('loading');
    let res;
    try {
      res = await api('GET', '/api/records?' + p.toString());
    } catch (e) {
      if (my === seq) count.textContent = errorText(e);
      return;
    }
    if (my !== seq) return;
    if (!append) clear(tbody);
    const frag = document.createDocumentFragment();
    for (const r of res.records || []) frag.appendChild(rowOf(r));
    tbody.appendChild(frag);
    offset = (res.offset || 0) + (res.records || []).length;
    const total = res.total || 0;
    count.textContent = total === 0 ? t('no_records') : t('showing', { shown: offset, total });
    more.hidden = offset >= total;
  }

  function reload() {
    const p = params();
    const qs = p.toString();
    state.lastFilter = qs;
    history.replaceState(null, '', '#/records' + (qs ? '?' + qs : ''));
    clear(exportBox);
    exportBox.appendChild(el('span', { text: t('download') + ': ' }));
    exportBox.appendChild(el('a', { href: '/api/export?format=csv' + (qs ? '&' + qs : ''), download: '', id: 'export-csv' }, 'CSV'));
    exportBox.appendChild(document.createTextNode(' · '));
    exportBox.appendChild(el('a', { href: '/api/export?format=jsonl' + (qs ? '&' + qs : ''), download: '', id: 'export-jsonl' }, 'JSONL'));
    load(false);
  }

  typeSel.addEventListener('change', async () => { [...q.keys()].filter((k) => k.startsWith('f.')).forEach((k) => q.delete(k)); await buildEnumFilters(); reload(); });
  vaultSel.addEventListener('change', reload);
  stateSel.addEventListener('change', reload);
  search.addEventListener('input', debounce(reload, 250));
  more.addEventListener('click', () => load(true));

  await buildEnumFilters();
  reload();
  return null;
}
