// form.js: forms generated from a content type's schema (GET /api/types/T):
// one input per field kind, lists as repeatable groups, refs as pickers.
// A failed save shows every problem at once, next to its field (a problem's
// field "hearings[2].date" names the second hearing's date input), with a
// summary at the top; focus goes to the first. Nothing is stored until the
// server's validate() passes.

import { el, clear, select, nextId, debounce } from './dom.js';
import { api, schema, types, labelOf, valueLabel, typeLabel, go, announce, errorText, holdFocus } from './app.js';
import { picker } from './picker.js';
import { t } from './i18n.js';

const LONG = /(^|_)(notes?|narrative|description|statement|account|text|details|summary|comment|comments|reply_text|body|facts)$/;

function isLong(f) {
  return f.multiline || f.long || f.widget === 'textarea' || LONG.test(f.name || '');
}

function present(v) {
  return v !== undefined && v !== null && v !== '' && !(Array.isArray(v) && v.length === 0);
}

// buildForm(schema, body, {onSubmit, submitLabel, onChange}) ->
//   {node, value(), showProblems(problems, focus), clearProblems()}
export function buildForm(sch, body, opts) {
  const original = body && typeof body === 'object' ? body : {};
  const places = new Map(); // path -> {input, box}
  const errorNodes = [];
  const topBox = el('div', { class: 'problems', id: nextId('problems'), tabindex: '-1', hidden: true });

  function register(path, input, box) { places.set(path, { input, box }); }

  // One control for a value of kind f at path; returns {node, get()}.
  function control(f, value, path, label) {
    const kind = f.kind || 'text';
    const id = nextId('f');
    const common = { id, name: path, 'aria-required': f.required ? 'true' : null };
    if (kind === 'enum') {
      const opts = [{ value: '', label: f.required ? t('choose') : t('none') }]
        .concat((f.values || []).map((v) => ({ value: v, label: valueLabel(f, v) })));
      if (present(value) && !(f.values || []).includes(value)) opts.push({ value, label: String(value) });
      const s = select(opts, present(value) ? value : '', common);
      return { node: s, input: s, get: () => (s.value === '' ? undefined : s.value) };
    }
    if (kind === 'boolean') {
      const c = el('input', Object.assign({ type: 'checkbox', checked: value === true }, common));
      return { node: c, input: c, checkbox: true, get: () => (c.checked ? true : (value === false ? false : undefined)) };
    }
    if (kind === 'integer' || kind === 'number') {
      const i = el('input', Object.assign({ type: 'number', step: kind === 'integer' ? '1' : 'any', inputmode: 'numeric', value: present(value) ? String(value) : '' }, common));
      return {
        node: i, input: i, get: () => {
          if (i.value === '') return undefined;
          const n = Number(i.value);
          return Number.isFinite(n) ? n : i.value;
        },
      };
    }
    if (kind === 'date') {
      const i = el('input', Object.assign({ type: 'date', value: typeof value === 'string' ? value : '' }, common));
      return { node: i, input: i, get: () => (i.value === '' ? undefined : i.value) };
    }
    if (kind === 'datetime') {
      const i = el('input', Object.assign({ type: 'datetime-local', value: typeof value === 'string' ? value.replace(/Z$/, '').slice(0, 16) : '' }, common));
      return { node: i, input: i, get: () => (i.value === '' ? undefined : i.value) };
    }
    if (kind === 'ref') {
      const p = picker({ refType: f.ref_type, value: typeof value === 'string' ? value : '', label, id });
      return { node: p.node, input: p.input, get: () => p.get() || undefined };
    }
    if (kind === 'object') {
      const v = value && typeof value === 'object' ? value : {};
      const parts = (f.fields || []).map((sf) => fieldRow(sf, v[sf.name], path + '.' + sf.name));
      const node = el('div', { class: 'object-fields' }, parts.map((p) => p.node));
      return {
        node, input: parts[0] ? parts[0].input : null, get: () => {
          const out = Object.assign({}, v);
          (f.fields || []).forEach((sf, i) => { const x = parts[i].get(); if (x === undefined) delete out[sf.name]; else out[sf.name] = x; });
          return Object.keys(out).length ? out : undefined;
        },
      };
    }
    if (kind === 'list') return listControl(f, value, path, label);
    if (kind === 'text' || kind === 'string') {
      const tag = isLong(f) ? 'textarea' : 'input';
      const i = el(tag, Object.assign(tag === 'input' ? { type: 'text' } : { rows: '5' }, common));
      i.value = typeof value === 'string' ? value : (present(value) ? String(value) : '');
      return { node: i, input: i, get: () => (i.value === '' ? undefined : i.value) };
    }
    // Any other kind: its JSON, edited as text.
    const i = el('textarea', Object.assign({ rows: '3', class: 'mono' }, common));
    i.value = present(value) ? JSON.stringify(value, null, 1) : '';
    return {
      node: i, input: i, get: () => {
        if (i.value.trim() === '') return undefined;
        try { return JSON.parse(i.value); } catch (e) { return i.value; }
      },
    };
  }

  // A list: enum items as a checkbox group, every other kind as repeatable
  // items with add / remove.
  function listControl(f, value, path, label) {
    const items = f.items || { kind: 'text' };
    const arr = Array.isArray(value) ? value.slice() : [];
    if (items.kind === 'enum') {
      const boxes = [];
      const group = el('div', { class: 'checks' });
      const vals = (items.values || []).slice();
      for (const v of arr) if (!vals.includes(v)) vals.push(v);
      vals.forEach((v, i) => {
        const c = el('input', { type: 'checkbox', id: nextId('c'), value: v, checked: arr.includes(v), name: path });
        boxes.push(c);
        group.appendChild(el('label', { class: 'check', for: c.id }, c, ' ', valueLabel(items, v)));
        register(path + '[' + (i + 1) + ']', c, null);
      });
      return { node: group, input: boxes[0] || null, group: true, get: () => { const out = boxes.filter((b) => b.checked).map((b) => b.value); return out.length ? out : undefined; } };
    }
    const ol = el('ol', { class: 'repeat' });
    const addBtn = el('button', { type: 'button', class: 'secondary small' }, t('add_item', { what: label }));
    const node = el('div', { class: 'repeat-box' }, ol, addBtn);
    let rows = [];
    function draw(values, focusIndex) {
      for (const k of [...places.keys()]) if (k.startsWith(path + '[')) places.delete(k);
      clear(ol);
      rows = values.map((v, i) => {
        const ipath = path + '[' + (i + 1) + ']';
        const itemLabel = t('item_n', { what: label, n: i + 1 });
        const c = control(items, v, ipath, itemLabel);
        const li = el('li', { class: items.kind === 'object' ? 'repeat-item group' : 'repeat-item' });
        if (items.kind === 'object') {
          li.appendChild(el('div', { class: 'repeat-head' }, el('span', { class: 'repeat-title', text: itemLabel })));
        } else if (c.input) {
          c.input.setAttribute('aria-label', itemLabel);
        }
        li.appendChild(c.node);
        li.appendChild(el('button', {
          type: 'button', class: 'link danger', 'aria-label': t('remove_item', { what: itemLabel }),
          on: { click: () => { const cur = rows.map((r) => r.get()); cur.splice(i, 1); draw(cur, Math.min(i, cur.length - 1)); if (!cur.length) addBtn.focus(); } },
        }, t('remove')));
        const box = el('div', { class: 'item-errors' });
        li.appendChild(box);
        register(ipath, c.input, box);
        ol.appendChild(li);
        return c;
      });
      if (focusIndex !== undefined && focusIndex >= 0 && rows[focusIndex] && rows[focusIndex].input) rows[focusIndex].input.focus();
      if (opts && opts.onChange) opts.onChange();
    }
    addBtn.addEventListener('click', () => {
      const cur = rows.map((r) => r.get());
      cur.push(items.kind === 'object' ? {} : undefined);
      draw(cur, cur.length - 1);
    });
    draw(arr);
    return {
      node, input: null, group: true, focusTarget: () => (rows[0] && rows[0].input) || addBtn,
      get: () => {
        const out = rows.map((r) => r.get()).filter((x) => x !== undefined);
        return out.length ? out : undefined;
      },
    };
  }

  // A labelled field: label + control + its error box.
  function fieldRow(f, value, path) {
    const label = labelOf(f, f.name);
    const c = control(f, value, path, label);
    const box = el('div', { class: 'field-errors' });
    const req = f.required ? el('span', { class: 'req', 'aria-hidden': 'true', text: ' *' }) : null;
    let node;
    if (c.group) {
      const legendId = nextId('lg');
      node = el('fieldset', { class: 'field group-field', 'aria-describedby': null },
        el('legend', { id: legendId }, label, req), c.node, box);
      if (c.node.classList.contains('checks')) c.node.setAttribute('aria-labelledby', legendId);
    } else if (c.checkbox) {
      node = el('div', { class: 'field check-field' }, el('label', { class: 'check', for: c.input.id }, c.node, ' ', label), box);
    } else {
      node = el('div', { class: 'field' }, el('label', { for: c.input ? c.input.id : null }, label, req), c.node, box);
    }
    register(path, c.input || (c.focusTarget ? { focus: () => c.focusTarget().focus() } : null), box);
    return { node, input: c.input, get: c.get };
  }

  const rows = (sch.fields || []).map((f) => ({ f, row: fieldRow(f, original[f.name], f.name) }));
  const submit = el('button', { type: 'submit', class: 'primary', id: 'save' }, (opts && opts.submitLabel) || t('save'));
  const extra = opts && opts.extraActions ? opts.extraActions : [];
  const form = el('form', { class: 'record-form', novalidate: true },
    topBox,
    el('p', { class: 'hint', text: t('required_hint') }),
    rows.map((r) => r.row.node),
    el('div', { class: 'actions sticky' }, submit, extra));

  function value() {
    const out = Object.assign({}, original);
    for (const { f, row } of rows) {
      const v = row.get();
      if (v === undefined) delete out[f.name];
      else out[f.name] = v;
    }
    return out;
  }

  function clearProblems() {
    for (const n of errorNodes.splice(0)) n.remove();
    for (const inv of form.querySelectorAll('[aria-invalid=true]')) {
      inv.removeAttribute('aria-invalid');
      const d = (inv.getAttribute('aria-describedby') || '').split(' ').filter((x) => !x.startsWith('err-'));
      if (d.length) inv.setAttribute('aria-describedby', d.join(' ')); else inv.removeAttribute('aria-describedby');
    }
    for (const g of form.querySelectorAll('.has-error')) g.classList.remove('has-error');
    clear(topBox);
    topBox.hidden = true;
  }

  // The place a problem's field names: itself, else its nearest parent
  // with room for a message (a checkbox of a group: the group).
  function placeOf(field) {
    let p = field || '';
    let input = null;
    while (p) {
      const pl = places.get(p);
      if (pl) {
        if (!input && pl.input) input = pl.input;
        if (pl.box) return { box: pl.box, input: input || pl.input };
      }
      const cut = Math.max(p.lastIndexOf('.'), p.lastIndexOf('['));
      if (cut <= 0) break;
      p = p.slice(0, cut);
    }
    return input ? { box: null, input } : null;
  }

  function showProblems(problems, focus) {
    clearProblems();
    if (!problems || !problems.length) return;
    const summary = el('ul');
    let first = null;
    for (const pr of problems) {
      const found = placeOf(pr.field);
      const id = 'err-' + nextId('e');
      const msg = el('p', { class: 'field-error', id, text: pr.message });
      let target = null;
      if (found && found.box) {
        found.box.appendChild(msg);
        errorNodes.push(msg);
        const container = found.box.closest('.field, .repeat-item');
        if (container) container.classList.add('has-error');
        target = found.input;
        if (target && target.setAttribute) {
          target.setAttribute('aria-invalid', 'true');
          target.setAttribute('aria-describedby', ((target.getAttribute('aria-describedby') || '') + ' ' + id).trim());
        }
      } else if (found && found.input) {
        target = found.input;
      }
      if (!first && target) first = target;
      const where = pr.field ? fieldName(pr.field) : t('whole_record');
      const item = el('li', {}, target
        ? el('a', { href: '#', on: { click: (e) => { e.preventDefault(); target.focus(); } } }, where + ': ' + pr.message)
        : where + ': ' + pr.message);
      summary.appendChild(item);
    }
    topBox.hidden = false;
    topBox.setAttribute('role', 'alert');
    topBox.appendChild(el('h2', { text: t('problems_title', { n: problems.length }) }));
    topBox.appendChild(summary);
    if (focus) {
      holdFocus();
      if (first && first.focus) first.focus();
      else topBox.focus();
    }
  }

  // "hearings[2].date" -> "Hearings 2 · Date" in the person's language.
  function fieldName(path) {
    const out = [];
    let fields = sch.fields || [];
    for (const seg of path.split('.')) {
      const m = seg.match(/^([^[]+)(?:\[(\d+)\])?$/);
      if (!m) { out.push(seg); continue; }
      const f = fields.find((x) => x.name === m[1]);
      out.push((f ? labelOf(f, m[1]) : m[1]) + (m[2] ? ' ' + m[2] : ''));
      fields = f && f.items && f.items.fields ? f.items.fields : (f && f.fields) || [];
    }
    return out.join(' · ');
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!opts || !opts.onSubmit) return;
    submit.disabled = true;
    try { await opts.onSubmit(value()); } finally { submit.disabled = false; }
  });

  return { node: form, value, showProblems, clearProblems, submit };
}

// Save through fn(body); on 422 the problems go next to their fields.
// After a failed save the form checks itself as the person types
// (POST /api/check), so fixed problems go away.
function wireSave(f, type, save) {
  let failed = false;
  const check = debounce(async () => {
    try {
      const res = await api('POST', '/api/check', { type, body: f.value() });
      f.showProblems(res.problems || [], false);
    } catch (e) { /* the next save says it */ }
  }, 500);
  // Only what the person changes after a failed save is checked live.
  const live = () => { if (failed) check(); };
  f.node.addEventListener('input', live);
  f.node.addEventListener('change', live);
  return async (body) => {
    try {
      await save(body);
    } catch (e) {
      if (e.status === 422) {
        failed = true;
        f.showProblems(e.problems.length ? e.problems : [{ field: '', message: e.message }], true);
      } else {
        f.showProblems([{ field: '', message: errorText(e) }], true);
      }
    }
  };
}

// #/new: choose the type and the vault.
export async function renderChooser(root, params, query) {
  const [tys, vaults] = await Promise.all([types(), api('GET', '/api/vaults')]);
  const usable = (vaults || []).filter((v) => v.have_key !== false && v.role !== 'reader' && v.role !== 'not a member');
  root.appendChild(el('h1', { text: t('new_record') }));
  const typeSel = select(tys.map((x) => ({ value: x.type, label: labelOf(x) })), query.get('type') || (tys[0] && tys[0].type), { id: 'new-type' });
  const vaultSel = select(usable.map((v) => ({ value: v.name, label: v.name })), query.get('vault') || (usable[0] && usable[0].name), { id: 'new-vault' });
  const form = el('form', { class: 'card narrow', on: { submit: (e) => { e.preventDefault(); go('#/new/' + encodeURIComponent(typeSel.value) + '?vault=' + encodeURIComponent(vaultSel.value)); } } },
    el('div', { class: 'field' }, el('label', { for: 'new-type', text: t('type') }), typeSel),
    el('div', { class: 'field' }, el('label', { for: 'new-vault', text: t('vault') }), vaultSel),
    usable.length ? null : el('p', { class: 'error', text: t('no_vault_to_write') }),
    el('div', { class: 'actions' }, el('button', { type: 'submit', class: 'primary', disabled: !usable.length || !tys.length }, t('continue'))));
  root.appendChild(form);
  return null;
}

// #/new/TYPE?vault=V
export async function renderNew(root, params, query) {
  const type = decodeURIComponent(params[0]);
  const vault = query.get('vault') || '';
  await types();
  const sch = await schema(type);
  if (!vault) return renderChooser(root, params, new URLSearchParams({ type }));
  root.appendChild(el('h1', { text: t('new_of_type', { type: labelOf(sch, type) }) }));
  root.appendChild(el('p', { class: 'lead' }, t('in_vault', { vault })));
  let f = null;
  f = buildForm(sch, {}, {
    submitLabel: t('save'),
    onSubmit: (body) => save(body),
    extraActions: [el('a', { href: '#/records', class: 'button secondary' }, t('cancel'))],
  });
  const save = wireSave(f, type, async (body) => {
    const res = await api('POST', '/api/records', { type, vault, body });
    announce(t('saved_new', { type: labelOf(sch, type) }), 'good');
    go('#/record/' + res.record);
  });
  root.appendChild(f.node);
  return null;
}

// #/edit/ID
export async function renderEdit(root, params) {
  const id = params[0];
  await types();
  const d = await api('GET', '/api/records/' + id);
  const type = d.meta && d.meta.type;
  const sch = d.form || await schema(type);
  root.appendChild(el('h1', { text: t('edit_of_type', { type: labelOf(sch, typeLabel(type)) }) }));
  if (d.nheads > 1) root.appendChild(el('p', { class: 'notice warn' }, t('edit_in_conflict'), ' ', el('a', { href: '#/conflict/' + id, text: t('resolve_conflict') })));
  let f = null;
  f = buildForm(sch, d.body || {}, {
    submitLabel: t('save_changes'),
    onSubmit: (body) => save(body),
    extraActions: [el('a', { href: '#/record/' + id, class: 'button secondary' }, t('cancel'))],
  });
  const save = wireSave(f, type, async (body) => {
    await api('PUT', '/api/records/' + id, { body });
    announce(t('saved'), 'good');
    go('#/record/' + id);
  });
  root.appendChild(f.node);
  return null;
}

export { wireSave };
