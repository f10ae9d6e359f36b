// app.js: the page's frame: the session, api(), the router, the header
// (navigation, language, lock) and the unlock screen. Each screen lives in
// its own module and exports render(main, params, query).
//
// The office may lock at any moment (idle time, "Lock now", another tab):
// any call answered 423 brings the unlock screen, and unlocking returns to
// the screen the person was on.

import { el, clear } from './dom.js';
import { t, setLang, lang, LANGS } from './i18n.js';

export const state = {
  session: null,     // GET /api/session
  types: null,       // GET /api/types, cached while unlocked
  schemas: new Map(), // type -> form schema
  lastFilter: '',    // the records list's query string, for exports
};

export class ApiError extends Error {
  constructor(status, err) {
    super((err && err.message) || ('HTTP ' + status));
    this.status = status;
    this.code = (err && err.code) || '';
    this.problems = (err && err.problems) || [];
  }
}

// api("GET", "/api/records?type=case") -> parsed JSON. Writes carry the
// CSRF header and a JSON body. A 423 shows the unlock screen and rejects.
export async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (method !== 'GET') {
    if (state.session && state.session.csrf) headers['X-Tunduk-CSRF'] = state.session.csrf;
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, { code: 'network', message: t('err_network') });
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch (e) { data = null; }
  }
  if (res.ok) return data;
  const err = data && data.error ? data.error : { code: 'failed', message: text.slice(0, 300) };
  if (res.status === 423) {
    locked();
  } else if (res.status === 401 && path !== '/api/unlock') {
    showNoSession();
  }
  throw new ApiError(res.status, err);
}

export async function schema(type) {
  if (!state.schemas.has(type)) state.schemas.set(type, await api('GET', '/api/types/' + encodeURIComponent(type)));
  return state.schemas.get(type);
}

export async function types() {
  if (!state.types) state.types = await api('GET', '/api/types');
  return state.types;
}

// The label of a thing with labels {en, ru, ky} (schema fields, types).
export function labelOf(thing, fallback) {
  if (!thing) return fallback || '';
  if (thing.labels && thing.labels[lang()]) return thing.labels[lang()];
  return thing.label || thing.name || thing.type || fallback || '';
}

export function typeLabel(type) {
  const ty = (state.types || []).find((x) => x.type === type);
  return ty ? labelOf(ty, type) : type;
}

export function valueLabel(field, value) {
  const vl = field && field.value_labels && field.value_labels[value];
  if (vl && vl[lang()]) return vl[lang()];
  if (vl && vl.en) return vl.en;
  return String(value);
}

// A record's heading: its summary when the server gives one, else the
// type and its first required text values ("Case: OSH-2026-014 · Client A-7").
export function recordTitle(sch, body, summary, type, id) {
  if (summary) return summary;
  const b = body || {};
  const parts = [];
  for (const f of (sch && sch.fields) || []) {
    if (parts.length >= 2) break;
    if (f.required && (f.kind || 'text') === 'text' && typeof b[f.name] === 'string' && b[f.name]) parts.push(b[f.name]);
  }
  const label = labelOf(sch, typeLabel(type));
  return parts.length ? label + ': ' + parts.join(' · ') : label + ' ' + String(id || '').slice(0, 8);
}

const LOCALES = { en: 'en-GB', ru: 'ru-RU', ky: 'ky-KG' };
export function locale() { return LOCALES[lang()] || 'en-GB'; }

export function localTime(ms) {
  if (ms === null || ms === undefined || ms === '') return '';
  const d = new Date(Number(ms));
  if (Number.isNaN(d.getTime())) return String(ms);
  return d.toLocaleString(locale(), { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

export function localDate(s) {
  if (typeof s !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(s)) return s;
  const [y, m, d] = s.split('-').map(Number);
  return new Date(y, m - 1, d).toLocaleDateString(locale(), { year: 'numeric', month: 'short', day: 'numeric' });
}

// Minutes east of UTC, as /api/report's tz wants.
export function tzOffset() { return -new Date().getTimezoneOffset(); }

// A message in the live region (read by screen readers) and on screen.
let announcedAt = 0;
export function announce(text, kind) {
  const box = document.getElementById('notice');
  announcedAt = Date.now();
  clear(box);
  if (!text) { box.hidden = true; return; }
  box.hidden = false;
  box.className = 'notice ' + (kind || 'info');
  box.appendChild(el('span', { text }));
  box.appendChild(el('button', { type: 'button', class: 'link', 'aria-label': t('dismiss'), on: { click: () => announce('') } }, '×'));
}

export function errorText(e) {
  if (e instanceof ApiError) {
    if (e.status === 0) return t('err_network');
    return e.message || t('err_failed');
  }
  return String(e && e.message ? e.message : e);
}

// ---- routes -------------------------------------------------------------

const ROUTES = [
  ['home', /^\/?$|^\/home$/, () => import('./home.js')],
  ['records', /^\/records$/, () => import('./records.js')],
  ['new', /^\/new$/, () => import('./form.js'), 'renderChooser'],
  ['new', /^\/new\/([^/]+)$/, () => import('./form.js'), 'renderNew'],
  ['records', /^\/edit\/([0-9a-fA-F]+)$/, () => import('./form.js'), 'renderEdit'],
  ['records', /^\/record\/([0-9a-fA-F]+)$/, () => import('./record.js')],
  ['conflicts', /^\/conflicts$/, () => import('./conflicts.js')],
  ['conflicts', /^\/conflict\/([0-9a-fA-F]+)$/, () => import('./conflicts.js'), 'renderOne'],
  ['quarantine', /^\/quarantine$/, () => import('./quarantine.js')],
  ['reports', /^\/reports$/, () => import('./reports.js')],
  ['vaults', /^\/vaults$/, () => import('./vaults.js')],
  ['settings', /^\/settings$/, () => import('./settings.js')],
];

const NAV = [
  ['home', '#/home', 'nav_home'],
  ['records', '#/records', 'nav_records'],
  ['new', '#/new', 'nav_new'],
  ['conflicts', '#/conflicts', 'nav_conflicts'],
  ['quarantine', '#/quarantine', 'nav_quarantine'],
  ['reports', '#/reports', 'nav_reports'],
  ['vaults', '#/vaults', 'nav_vaults'],
  ['settings', '#/settings', 'nav_settings'],
];

export function parseHash() {
  const h = location.hash.replace(/^#/, '') || '/home';
  const qi = h.indexOf('?');
  const path = qi < 0 ? h : h.slice(0, qi);
  const query = new URLSearchParams(qi < 0 ? '' : h.slice(qi + 1));
  return { path, query };
}

export function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

let routeSeq = 0;
let current = null; // { cleanup }

export async function route() {
  const seq = ++routeSeq;
  if (current && current.cleanup) { try { current.cleanup(); } catch (e) { /* ignore */ } }
  current = null;
  const main = document.getElementById('main');
  if (!state.session || state.session.locked) return showUnlock();
  document.body.classList.remove('is-locked');
  if (Date.now() - announcedAt > 1500) announce('');
  const { path, query } = parseHash();
  let found = null;
  let m = null;
  for (const r of ROUTES) {
    m = path.match(r[1]);
    if (m) { found = r; break; }
  }
  markNav(found ? found[0] : '');
  clear(main);
  main.setAttribute('aria-busy', 'true');
  if (!found) {
    main.appendChild(el('h1', { text: t('not_found') }));
    main.appendChild(el('p', {}, el('a', { href: '#/home', text: t('nav_home') })));
    main.removeAttribute('aria-busy');
    return;
  }
  try {
    const mod = await found[2]();
    if (seq !== routeSeq) return;
    const fn = mod[found[3] || 'render'];
    const screen = el('div', { class: 'screen' });
    main.appendChild(screen);
    current = (await fn(screen, m.slice(1), query)) || null;
  } catch (e) {
    if (seq !== routeSeq) return;
    if (e instanceof ApiError && (e.status === 423 || e.status === 401)) return;
    clear(main);
    main.appendChild(el('h1', { text: t('err_title') }));
    main.appendChild(el('p', { class: 'error', role: 'alert', text: errorText(e) }));
    main.appendChild(el('p', {}, el('a', { href: '#/home', text: t('nav_home') })));
  } finally {
    if (seq === routeSeq) main.removeAttribute('aria-busy');
  }
  if (seq === routeSeq) {
    const h1 = main.querySelector('h1');
    if (h1) { h1.setAttribute('tabindex', '-1'); if (!focusHeld) h1.focus({ preventScroll: false }); }
    focusHeld = false;
    document.title = (h1 ? h1.textContent + ' · ' : '') + 'tunduk';
  }
}

// A screen that moves focus itself (e.g. to a problem) holds it once.
let focusHeld = false;
export function holdFocus() { focusHeld = true; }

function markNav(name) {
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.dataset.route === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

// ---- header -------------------------------------------------------------

function renderHeader() {
  const nav = document.getElementById('nav');
  clear(nav);
  const ul = el('ul');
  for (const [name, href, key] of NAV) {
    ul.appendChild(el('li', {}, el('a', { href, dataset: { route: name }, text: t(key) })));
  }
  nav.appendChild(ul);
  nav.setAttribute('aria-label', t('nav_label'));

  const tools = document.getElementById('tools');
  clear(tools);
  const langSel = el('select', { id: 'lang', 'aria-label': t('language'), on: { change: (e) => changeLang(e.target.value) } },
    LANGS.map((l) => el('option', { value: l.code, selected: l.code === lang(), lang: l.code }, l.name)));
  tools.appendChild(el('label', { for: 'lang', class: 'sr-only', text: t('language') }));
  tools.appendChild(langSel);
  const s = state.session;
  if (s && !s.locked) {
    tools.appendChild(el('button', { type: 'button', id: 'lock', class: 'secondary', on: { click: lockNow } }, t('lock_now')));
  }
  const org = document.getElementById('org');
  org.textContent = s && s.organisation ? s.organisation : '';
  const dev = document.getElementById('device');
  dev.textContent = s && s.device && s.device.name ? t('this_device', { name: s.device.name }) : '';
  document.getElementById('skip').textContent = t('skip');
  document.getElementById('brand-sub').textContent = t('brand_sub');
  document.documentElement.lang = lang();
}

async function changeLang(code) {
  setLang(code);
  try { localStorage.setItem('tunduk.lang', code); } catch (e) { /* private mode */ }
  if (state.session && !state.session.locked) {
    try { state.session = Object.assign({}, state.session, await api('POST', '/api/settings', { language: code })); } catch (e) { /* kept locally */ }
  }
  renderHeader();
  await route();
  const ls = document.getElementById('lang');
  if (ls) ls.focus();
}

async function lockNow() {
  try { await api('POST', '/api/lock'); } catch (e) { /* the server locks anyway on error paths */ }
  locked();
}

// ---- lock / unlock ------------------------------------------------------

export function locked() {
  state.types = null;
  state.schemas.clear();
  if (state.session) state.session.locked = true;
  if (current && current.cleanup) { try { current.cleanup(); } catch (e) { /* ignore */ } }
  current = null;
  showUnlock();
}

function showUnlock() {
  routeSeq += 1;
  document.body.classList.add('is-locked');
  renderHeader();
  markNav('');
  const main = document.getElementById('main');
  clear(main);
  const pass = el('input', { type: 'password', id: 'passphrase', name: 'passphrase', autocomplete: 'current-password', required: true });
  const msg = el('p', { id: 'unlock-msg', class: 'error', role: 'alert' });
  const btn = el('button', { type: 'submit', class: 'primary' }, t('unlock'));
  const form = el('form', { class: 'unlock card', 'aria-labelledby': 'unlock-title', on: { submit: async (e) => {
    e.preventDefault();
    msg.textContent = '';
    btn.disabled = true;
    btn.textContent = t('unlocking');
    try {
      await api('POST', '/api/unlock', { passphrase: pass.value });
      pass.value = '';
      state.session = await api('GET', '/api/session');
      if (state.session.language && !localLangChosen()) setLang(state.session.language);
      renderHeader();
      await route();
    } catch (err) {
      pass.value = '';
      msg.textContent = err.code === 'passphrase' || err.status === 401 ? t('wrong_passphrase') : errorText(err);
      pass.focus();
    } finally {
      btn.disabled = false;
      btn.textContent = t('unlock');
    }
  } } },
  el('h1', { id: 'unlock-title', text: t('unlock_title') }),
  el('p', { class: 'lead', text: t('unlock_lead') }),
  el('div', { class: 'field' }, el('label', { for: 'passphrase', text: t('passphrase') }), pass),
  msg,
  el('div', { class: 'actions' }, btn));
  main.appendChild(form);
  document.title = t('unlock_title') + ' · tunduk';
  pass.focus();
}

function showNoSession() {
  const main = document.getElementById('main');
  clear(main);
  main.appendChild(el('h1', { text: t('no_session_title') }));
  main.appendChild(el('p', { text: t('no_session') }));
}

function localLangChosen() {
  try { return !!localStorage.getItem('tunduk.lang'); } catch (e) { return false; }
}

// ---- start --------------------------------------------------------------

async function start() {
  let stored = null;
  try { stored = localStorage.getItem('tunduk.lang'); } catch (e) { /* ignore */ }
  try {
    state.session = await api('GET', '/api/session');
  } catch (e) {
    setLang(stored || 'en');
    renderHeader();
    if (e.status !== 401) {
      const main = document.getElementById('main');
      clear(main);
      main.appendChild(el('h1', { text: t('err_title') }));
      main.appendChild(el('p', { class: 'error', text: errorText(e) }));
    }
    return;
  }
  setLang(stored || state.session.language || 'en');
  renderHeader();
  window.addEventListener('hashchange', () => route());
  document.addEventListener('tunduk:session', () => renderHeader());
  document.getElementById('skip').addEventListener('click', (e) => {
    e.preventDefault();
    document.getElementById('main').focus();
  });
  // The idle lock runs in tunduk, not here. Every few seconds the page asks
  // whether the office is still unlocked, so that a locked office leaves no
  // record on screen; the ask says whether the person typed or clicked since
  // the last one, so writing a long testimony is not "idle".
  for (const ev of ['keydown', 'pointerdown', 'input', 'wheel']) {
    document.addEventListener(ev, () => { userActive = true; }, { capture: true, passive: true });
  }
  document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'visible') checkLock(); });
  setInterval(checkLock, LOCK_POLL_MS);
  await route();
}

const LOCK_POLL_MS = 5000;
let userActive = false;

async function checkLock() {
  if (!state.session || state.session.locked) return;
  const path = '/api/session' + (userActive ? '?active=1' : '');
  userActive = false;
  try {
    const s = await api('GET', path);
    if (s.locked) { state.session = s; locked(); }
  } catch (e) { /* shown by the next call */ }
}

start();
