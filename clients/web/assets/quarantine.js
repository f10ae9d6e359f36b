// quarantine.js: pulled revisions a moderation rule held back, with the
// rule's reason; release (let it in) or drop, each confirmed first.

import { el, shortId } from './dom.js';
import { api, types, typeLabel, announce, errorText, go } from './app.js';
import { t } from './i18n.js';

export async function render(root) {
  await types();
  const list = await api('GET', '/api/quarantine');
  root.appendChild(el('h1', { text: t('quarantine_title') }));
  root.appendChild(el('p', { class: 'lead', text: t('quarantine_lead') }));
  if (!list.length) {
    root.appendChild(el('p', { class: 'good', text: t('quarantine_empty') }));
    return null;
  }
  async function act(q, what) {
    const ok = window.confirm(t(what === 'release' ? 'confirm_release' : 'confirm_drop', { rev: shortId(q.revision) }));
    if (!ok) return;
    try {
      await api('POST', '/api/quarantine/' + q.revision + '/' + what);
      announce(t(what === 'release' ? 'released' : 'dropped', { rev: shortId(q.revision) }), 'good');
      go('#/quarantine');
    } catch (e) { announce(errorText(e), 'error'); }
  }
  root.appendChild(el('table', { class: 'list', id: 'quarantine-table' },
    el('thead', {}, el('tr', {}, [t('col_revision'), t('col_type'), t('col_vault'), t('col_author'), t('col_reason'), t('col_actions')].map((h) => el('th', { scope: 'col', text: h })))),
    el('tbody', {}, list.map((q) => el('tr', {},
      el('td', {}, el('code', { text: shortId(q.revision) }), ' ', el('span', { class: 'muted', text: t('of_record', { id: shortId(q.record) }) })),
      el('td', { text: typeLabel(q.type) }),
      el('td', { text: q.vault }),
      el('td', { text: q.author_name || shortId(q.author) }),
      el('td', { class: 'reason', text: q.reason }),
      el('td', { class: 'nowrap' },
        el('button', { type: 'button', class: 'secondary small', 'aria-label': t('release_label', { rev: shortId(q.revision) }), on: { click: () => act(q, 'release') } }, t('release')), ' ',
        el('button', { type: 'button', class: 'secondary small danger', 'aria-label': t('drop_label', { rev: shortId(q.revision) }), on: { click: () => act(q, 'drop') } }, t('drop'))))))));
  return null;
}
