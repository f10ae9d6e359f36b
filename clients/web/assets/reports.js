// reports.js: the printable report of a case (GET /api/report, opened in a
// new tab to print), and the CSV / JSONL downloads of the records list as
// last filtered.

import { el } from './dom.js';
import { state, types, typeLabel, tzOffset } from './app.js';
import { picker } from './picker.js';
import { lang, t } from './i18n.js';

export async function render(root) {
  await types();
  root.appendChild(el('h1', { text: t('reports_title') }));

  const open = el('a', { class: 'button primary disabled', id: 'open-report', target: '_blank', rel: 'noopener', 'aria-disabled': 'true', href: '#/reports' }, t('open_report'));
  const p = picker({
    refType: 'case', id: 'report-case', label: t('report_case'),
    onChange: (id) => {
      if (id) {
        open.href = '/api/report?' + new URLSearchParams({ record: id, lang: lang(), tz: String(tzOffset()) }).toString();
        open.classList.remove('disabled');
        open.removeAttribute('aria-disabled');
      } else {
        open.href = '#/reports';
        open.classList.add('disabled');
        open.setAttribute('aria-disabled', 'true');
      }
    },
  });
  open.addEventListener('click', (e) => { if (open.getAttribute('aria-disabled')) { e.preventDefault(); p.input.focus(); } });
  root.appendChild(el('section', { class: 'card', 'aria-labelledby': 'rep-h' },
    el('h2', { id: 'rep-h', text: t('case_report') }),
    el('p', { text: t('case_report_lead') }),
    el('div', { class: 'field' }, el('label', { for: 'report-case', text: t('report_case') }), p.node),
    el('div', { class: 'actions' }, open)));

  const qs = state.lastFilter;
  const desc = qs ? describe(new URLSearchParams(qs)) : t('export_all');
  root.appendChild(el('section', { class: 'card', 'aria-labelledby': 'exp-h' },
    el('h2', { id: 'exp-h', text: t('export_title') }),
    el('p', {}, t('export_lead'), ' ', el('a', { href: '#/records' + (qs ? '?' + qs : ''), text: t('change_filters') })),
    el('p', { class: 'muted', id: 'export-filter', text: desc }),
    el('div', { class: 'actions' },
      el('a', { class: 'button secondary', href: '/api/export?format=csv' + (qs ? '&' + qs : ''), download: '', id: 'download-csv' }, t('download_csv')),
      el('a', { class: 'button secondary', href: '/api/export?format=jsonl' + (qs ? '&' + qs : ''), download: '', id: 'download-jsonl' }, t('download_jsonl')))));
  return null;
}

function describe(p) {
  const parts = [];
  if (p.get('type')) parts.push(t('type') + ': ' + typeLabel(p.get('type')));
  if (p.get('vault')) parts.push(t('vault') + ': ' + p.get('vault'));
  if (p.get('state')) parts.push(t('state') + ': ' + t('state_' + p.get('state')));
  if (p.get('q')) parts.push(t('search') + ': “' + p.get('q') + '”');
  for (const [k, v] of p) if (k.startsWith('f.')) parts.push(k.slice(2) + ' = ' + v);
  return parts.length ? parts.join(' · ') : t('export_all');
}
