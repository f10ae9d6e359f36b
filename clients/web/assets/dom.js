// dom.js: building the page from data without ever parsing HTML.
//
// Records come from other offices and are untrusted: every value reaches
// the page as a text node or an attribute set through the DOM, never
// through innerHTML. Events are bound with addEventListener (the CSP
// forbids inline handlers and inline style attributes).

// el("button", {class: "primary", type: "button", on: {click: fn}}, "Save")
// Attributes: class, text (textContent), on (events), dataset (object),
// aria-* and every other name through setAttribute; boolean true sets an
// empty attribute, false / null / undefined leave it out. Children: nodes,
// strings (text nodes), arrays (flattened), null / false (skipped).
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') node.className = Array.isArray(v) ? v.filter(Boolean).join(' ') : v;
      else if (k === 'text') node.textContent = String(v);
      else if (k === 'on') for (const [ev, fn] of Object.entries(v)) node.addEventListener(ev, fn);
      else if (k === 'dataset') Object.assign(node.dataset, v);
      else if (k === 'value') node.value = v;
      else if (k === 'checked') node.checked = !!v;
      else if (k === 'selected') node.selected = !!v;
      else node.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(node, children);
  return node;
}

export function append(node, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(node, c);
    else if (c instanceof Node) node.appendChild(c);
    else node.appendChild(document.createTextNode(String(c)));
  }
  return node;
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

let uid = 0;
// A fresh id for label/aria wiring.
export function nextId(prefix) {
  uid += 1;
  return (prefix || 'id') + '-' + uid;
}

// A debounced function: fn runs ms after the last call.
export function debounce(fn, ms) {
  let timer = 0;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

// A labelled control: <div class="field"><label for=id>text</label>control</div>.
export function labelled(text, control, hint) {
  if (!control.id) control.id = nextId('f');
  const wrap = el('div', { class: 'field' },
    el('label', { for: control.id, text }), control);
  if (hint) {
    const h = el('p', { class: 'hint', id: nextId('h'), text: hint });
    control.setAttribute('aria-describedby', h.id);
    wrap.appendChild(h);
  }
  return wrap;
}

export function select(options, value, attrs) {
  const s = el('select', attrs || {});
  for (const o of options) {
    s.appendChild(el('option', { value: o.value, selected: String(o.value) === String(value ?? '') }, o.label));
  }
  if (value !== undefined && value !== null) s.value = String(value);
  return s;
}

export function shortId(id) {
  return id ? String(id).slice(0, 8) : '';
}

export function formatBytes(n) {
  if (n === null || n === undefined) return '';
  const u = ['B', 'KB', 'MB', 'GB'];
  let i = 0;
  let x = Number(n);
  while (x >= 1024 && i < u.length - 1) { x /= 1024; i += 1; }
  return (i === 0 ? String(x) : x.toFixed(x < 10 ? 1 : 0)) + ' ' + u[i];
}

// A device id "ABCD-EFGH-..." kept in its groups, each group a span so a
// reader can compare it group by group.
export function deviceIdNode(id) {
  const groups = String(id || '').split('-');
  return el('code', { class: 'device-id' }, groups.map((g, i) =>
    [el('span', { class: 'group', text: g }), i < groups.length - 1 ? '-' : null]));
}
