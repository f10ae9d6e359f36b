// view.js: a record body shown read-only with the schema's labels: enum
// values by their labels, dates in the person's locale, lists and hearings
// as lists, refs as links with the named record's summary.

import { el } from './dom.js';
import { labelOf, valueLabel, localDate } from './app.js';
import { refSummary } from './picker.js';
import { t } from './i18n.js';

export function valueNode(f, v) {
  if (v === undefined || v === null || v === '') return el('span', { class: 'muted', text: '—' });
  const kind = (f && f.kind) || (Array.isArray(v) ? 'list' : typeof v === 'object' ? 'object' : 'text');
  if (kind === 'enum') return el('span', { text: valueLabel(f, v) });
  if (kind === 'date') return el('time', { datetime: String(v), text: localDate(v) });
  if (kind === 'boolean') return el('span', { text: v ? t('yes') : t('no') });
  if (kind === 'ref') {
    const a = el('a', { href: '#/record/' + encodeURIComponent(v), text: String(v).slice(0, 8) });
    refSummary(String(v)).then((s) => { a.textContent = s; });
    return a;
  }
  if (kind === 'list' && Array.isArray(v)) {
    const items = (f && f.items) || { kind: 'text' };
    return el('ul', { class: 'value-list' }, v.map((x) => el('li', {}, valueNode(items, x))));
  }
  if ((kind === 'object' || typeof v === 'object') && !Array.isArray(v) && typeof v === 'object') {
    const fields = (f && f.fields) || Object.keys(v).map((k) => ({ name: k }));
    return el('dl', { class: 'value-object' }, fields.filter((sf) => v[sf.name] !== undefined).map((sf) =>
      [el('dt', { text: labelOf(sf, sf.name) }), el('dd', {}, valueNode(sf, v[sf.name]))]));
  }
  if (typeof v === 'object') return el('code', { text: JSON.stringify(v) });
  const s = String(v);
  return el('span', { class: s.length > 80 || s.includes('\n') ? 'long-text' : null, text: s });
}

// The fields of body in the schema's order, then any others it holds.
export function bodyView(sch, body) {
  const b = body || {};
  const fields = (sch && sch.fields) || [];
  const known = new Set(fields.map((f) => f.name));
  const rows = [];
  for (const f of fields) {
    if (b[f.name] === undefined) continue;
    rows.push(el('div', { class: 'kv' }, el('dt', { text: labelOf(f, f.name) }), el('dd', {}, valueNode(f, b[f.name]))));
  }
  for (const k of Object.keys(b)) {
    if (known.has(k)) continue;
    rows.push(el('div', { class: 'kv' }, el('dt', { text: k }), el('dd', {}, valueNode(null, b[k]))));
  }
  if (!rows.length) rows.push(el('p', { class: 'muted', text: t('empty_record') }));
  return el('dl', { class: 'record-fields' }, rows);
}

// Field-by-field comparison of two bodies: [{name, label, a, b, same}].
export function compare(sch, a, b) {
  const names = [];
  for (const f of (sch && sch.fields) || []) names.push(f.name);
  for (const k of Object.keys(a || {}).concat(Object.keys(b || {}))) if (!names.includes(k)) names.push(k);
  return names.filter((n) => (a || {})[n] !== undefined || (b || {})[n] !== undefined).map((n) => {
    const f = ((sch && sch.fields) || []).find((x) => x.name === n) || null;
    return { name: n, f, label: f ? labelOf(f, n) : n, a: (a || {})[n], b: (b || {})[n], same: JSON.stringify((a || {})[n]) === JSON.stringify((b || {})[n]) };
  });
}
