// settings.js: idle minutes before the office locks itself, the
// organisation's name (printed in reports), the language.

import { el } from './dom.js';
import { api, state, announce, errorText, go } from './app.js';
import { t, setLang, LANGS } from './i18n.js';

export async function render(root) {
  const s = state.session = await api('GET', '/api/session');
  root.appendChild(el('h1', { text: t('settings_title') }));
  const idle = el('input', { type: 'number', id: 'idle', min: '1', max: '480', step: '1', value: String(s.idle_minutes || 15), required: true });
  const org = el('input', { type: 'text', id: 'organisation', value: s.organisation || '', maxlength: '200', autocomplete: 'organization' });
  const lang = el('select', { id: 'settings-lang' }, LANGS.map((l) => el('option', { value: l.code, selected: l.code === (s.language || 'en') }, l.name)));
  const msg = el('p', { class: 'error', role: 'alert' });
  const form = el('form', { class: 'card narrow', on: { submit: async (e) => {
    e.preventDefault();
    msg.textContent = '';
    const n = Number(idle.value);
    if (!Number.isInteger(n) || n < 1 || n > 480) { msg.textContent = t('idle_range'); idle.focus(); return; }
    try {
      state.session = Object.assign({}, state.session, await api('POST', '/api/settings', { idle_minutes: n, organisation: org.value.trim(), language: lang.value }));
      setLang(lang.value);
      try { localStorage.setItem('tunduk.lang', lang.value); } catch (err) { /* ignore */ }
      announce(t('settings_saved'), 'good');
      document.dispatchEvent(new CustomEvent('tunduk:session'));
      go('#/settings');
    } catch (err) { msg.textContent = errorText(err); }
  } } },
  el('div', { class: 'field' }, el('label', { for: 'idle', text: t('idle_minutes') }), idle, el('p', { class: 'hint', text: t('idle_hint') })),
  el('div', { class: 'field' }, el('label', { for: 'organisation', text: t('organisation') }), org, el('p', { class: 'hint', text: t('organisation_hint') })),
  el('div', { class: 'field' }, el('label', { for: 'settings-lang', text: t('language') }), lang),
  msg,
  el('div', { class: 'actions' }, el('button', { type: 'submit', class: 'primary', id: 'save-settings' }, t('save'))));
  root.appendChild(form);
  root.appendChild(el('section', { class: 'card narrow' },
    el('h2', { text: t('about') }),
    el('dl', { class: 'record-fields' },
      el('div', { class: 'kv' }, el('dt', { text: t('this_device_name') }), el('dd', { text: (s.device && s.device.name) || '' })),
      el('div', { class: 'kv' }, el('dt', { text: t('device_id') }), el('dd', {}, el('code', { class: 'device-id', text: (s.device && s.device.id) || '' }))),
      el('div', { class: 'kv' }, el('dt', { text: t('home_folder') }), el('dd', {}, el('code', { text: s.home || '' }))),
      el('div', { class: 'kv' }, el('dt', { text: t('version') }), el('dd', { text: s.version || '' })))));
  return null;
}
