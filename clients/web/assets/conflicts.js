// conflicts.js: records with several heads, and one record's heads side by
// side, field by field: choose a side per field (or edit the result), then
// save it as the merge (POST .../resolve {body}); the content type's
// merge() is offered when GET .../merge gives a body.

import { el, clear, shortId } from './dom.js';
import { api, types, schema, typeLabel, labelOf, localTime, announce, errorText, go, recordTitle } from './app.js';
import { compare, valueNode } from './view.js';
import { buildForm, wireSave } from './form.js';
import { t } from './i18n.js';

export async function render(root) {
  await types();
  const list = await api('GET', '/api/conflicts');
  root.appendChild(el('h1', { text: t('conflicts_title') }));
  root.appendChild(el('p', { class: 'lead', text: t('conflicts_lead') }));
  if (!list.length) {
    root.appendChild(el('p', { class: 'good', text: t('no_conflicts') }));
    return null;
  }
  root.appendChild(el('table', { class: 'list', id: 'conflicts-table' },
    el('thead', {}, el('tr', {}, [t('col_summary'), t('col_type'), t('col_vault'), t('col_versions')].map((h) => el('th', { scope: 'col', text: h })))),
    el('tbody', {}, list.map((c) => el('tr', {},
      el('td', {}, el('a', { href: '#/conflict/' + c.id, text: c.summary || shortId(c.id) })),
      el('td', { text: typeLabel(c.type) }),
      el('td', { text: c.vault }),
      el('td', { text: String(c.nheads || (c.heads || []).length) }))))));
  return null;
}

export async function renderOne(root, params) {
  const id = params[0];
  await types();
  const [heads, rec] = await Promise.all([
    api('GET', '/api/records/' + id + '/heads'),
    api('GET', '/api/records/' + id),
  ]);
  const type = rec.meta && rec.meta.type;
  const sch = rec.form || await schema(type);
  root.appendChild(el('p', { class: 'crumbs' }, el('a', { href: '#/conflicts', text: t('conflicts_title') })));
  root.appendChild(el('h1', { text: t('resolve_title', { what: recordTitle(sch, rec.body, rec.summary, type, id) }) }));
  if (!heads || heads.length < 2) {
    root.appendChild(el('p', { class: 'good', text: t('no_longer_conflict') }));
    root.appendChild(el('p', {}, el('a', { href: '#/record/' + id, text: t('open_record') })));
    return null;
  }
  root.appendChild(el('p', { class: 'lead', text: t('resolve_lead') }));

  // The content type's automatic merge, when it gives one.
  const autoBox = el('div', { class: 'card auto-merge' });
  root.appendChild(autoBox);
  api('GET', '/api/records/' + id + '/merge').then((m) => {
    if (m && m.body) {
      autoBox.appendChild(el('h2', { text: t('auto_merge_title') }));
      autoBox.appendChild(el('p', { text: t('auto_merge_lead') }));
      autoBox.appendChild(el('button', { type: 'button', class: 'primary', id: 'use-auto', on: { click: async (e) => {
        e.target.disabled = true;
        try { await api('POST', '/api/records/' + id + '/resolve', { auto: true }); announce(t('resolved'), 'good'); go('#/record/' + id); } catch (err) { e.target.disabled = false; announce(errorText(err), 'error'); }
      } } }, t('use_auto_merge')));
    } else if (m && m.declined) {
      autoBox.appendChild(el('p', { class: 'muted', text: t('auto_merge_declined', { reason: m.declined }) }));
    } else {
      autoBox.remove();
    }
  }, () => autoBox.remove());

  // Side by side: one column per head, a radio per field and head.
  const bodies = heads.map((h) => h.body || {});
  const names = [];
  for (const r of compare(sch, bodies[0], bodies[1])) names.push(r.name);
  for (const b of bodies.slice(2)) for (const k of Object.keys(b)) if (!names.includes(k)) names.push(k);
  const fieldOf = (n) => (sch.fields || []).find((f) => f.name === n) || null;
  const choice = {}; // field -> head index
  const thead = el('tr', {}, el('th', { scope: 'col', text: t('col_field') }),
    heads.map((h, i) => el('th', { scope: 'col' },
      el('span', { class: 'head-title', text: i === 0 ? t('version_current') : t('version_n', { n: i + 1 }) }),
      el('span', { class: 'muted head-who', text: (h.author_name || shortId(h.meta && h.meta.author)) + ' · ' + localTime(h.meta && h.meta.time) }))));
  const tbody = el('tbody');
  for (const n of names) {
    const f = fieldOf(n);
    const label = f ? labelOf(f, n) : n;
    const vals = bodies.map((b) => b[n]);
    const same = vals.every((v) => JSON.stringify(v) === JSON.stringify(vals[0]));
    choice[n] = 0;
    const tr = el('tr', { class: same ? 'same' : 'changed' }, el('th', { scope: 'row', text: label }));
    vals.forEach((v, i) => {
      const td = el('td');
      if (same) {
        td.appendChild(valueNode(f, v));
      } else {
        const rid = 'pick-' + n + '-' + i;
        const r = el('input', { type: 'radio', name: 'pick-' + n, id: rid, value: String(i), checked: i === 0 });
        r.addEventListener('change', () => { choice[n] = i; });
        td.appendChild(el('label', { class: 'pick', for: rid }, r, ' ', el('span', { class: 'sr-only', text: t('take_from', { field: label, n: i + 1 }) + ': ' }), valueNode(f, v)));
      }
      tr.appendChild(td);
    });
    tbody.appendChild(tr);
  }
  const table = el('table', { class: 'diff heads', id: 'heads-table' }, el('caption', { class: 'sr-only', text: t('heads_caption') }), el('thead', {}, thead), tbody);

  function chosen() {
    const out = {};
    for (const n of names) {
      const v = bodies[choice[n]][n];
      if (v !== undefined) out[n] = v;
    }
    return out;
  }

  const problemsBox = el('div', { class: 'problems', hidden: true, role: 'alert', tabindex: '-1' });
  async function resolve(body) {
    await api('POST', '/api/records/' + id + '/resolve', { body });
    announce(t('resolved'), 'good');
    go('#/record/' + id);
  }
  const saveBtn = el('button', { type: 'button', class: 'primary', id: 'save-merge' }, t('save_merge'));
  saveBtn.addEventListener('click', async () => {
    saveBtn.disabled = true;
    clear(problemsBox);
    problemsBox.hidden = true;
    try { await resolve(chosen()); } catch (e) {
      problemsBox.hidden = false;
      problemsBox.appendChild(el('h2', { text: t('merge_not_saved') }));
      problemsBox.appendChild(el('ul', {}, (e.problems && e.problems.length ? e.problems : [{ field: '', message: errorText(e) }]).map((p) => el('li', { text: (p.field ? p.field + ': ' : '') + p.message }))));
      problemsBox.focus();
    } finally { saveBtn.disabled = false; }
  });
  const editBox = el('div', { class: 'edit-merge' });
  const editBtn = el('button', { type: 'button', class: 'secondary', id: 'edit-merge' }, t('edit_merge'));
  editBtn.addEventListener('click', () => {
    clear(editBox);
    editBox.appendChild(el('h2', { text: t('edit_merge_title') }));
    let f = null;
    f = buildForm(sch, chosen(), { submitLabel: t('save_merge'), onSubmit: (b) => save(b) });
    const save = wireSave(f, type, resolve);
    editBox.appendChild(f.node);
    const first = f.node.querySelector('input, select, textarea');
    if (first) first.focus();
  });

  root.appendChild(el('section', { class: 'card', 'aria-labelledby': 'sbs-h' },
    el('h2', { id: 'sbs-h', text: t('side_by_side') }),
    el('div', { class: 'table-wrap' }, table), problemsBox,
    el('div', { class: 'actions' }, saveBtn, editBtn)));
  root.appendChild(editBox);
  return null;
}
