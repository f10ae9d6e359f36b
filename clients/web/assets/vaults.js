// vaults.js: the vaults with their members and keys, creating one, and
// granting one to a colleague: pick a device this office knows or paste an
// id; the id is shown in its groups with the name, and the person confirms
// having compared it with the colleague out of band before the grant.

import { el, clear, deviceIdNode, select, shortId } from './dom.js';
import { api, announce, errorText, go, localTime } from './app.js';
import { t } from './i18n.js';

const DEVICE_RE = /^([A-Z2-7]{4}-){12}[A-Z2-7]{4}$/;

function normaliseId(s) {
  const raw = String(s || '').toUpperCase().replace(/[^A-Z0-9]/g, '');
  if (raw.length !== 52) return String(s || '').trim().toUpperCase();
  return raw.match(/.{4}/g).join('-');
}

export async function render(root) {
  const [vaults, devices] = await Promise.all([api('GET', '/api/vaults'), api('GET', '/api/devices').catch(() => [])]);
  const names = new Map((devices || []).map((d) => [d.device, d.name]));
  root.appendChild(el('h1', { text: t('vaults_title') }));
  root.appendChild(el('p', { class: 'lead', text: t('vaults_lead') }));

  if (!vaults.length) root.appendChild(el('p', { class: 'muted', text: t('no_vaults') }));
  for (const v of vaults) {
    const members = Array.isArray(v.members) ? v.members : [];
    const sec = el('section', { class: 'card vault', 'aria-labelledby': 'v-' + v.name },
      el('h2', { id: 'v-' + v.name, text: v.name }),
      el('p', { class: 'facts' },
        el('span', {}, t('your_role') + ': ', el('strong', { text: roleLabel(v.role) })),
        el('span', { text: v.have_key ? t('have_key') : t('no_key_here') }),
        v.created ? el('span', { text: t('created_at', { time: localTime(Number(v.created) * (Number(v.created) < 1e12 ? 1000 : 1)) }) }) : null,
        el('span', {}, t('vault_id') + ': ', el('code', { text: shortId(v.vault_id) }))));
    if (members.length) {
      sec.appendChild(el('table', { class: 'list members' },
        el('caption', { text: t('members') }),
        el('thead', {}, el('tr', {}, [t('col_name'), t('col_device'), t('col_role'), t('col_keys')].map((h) => el('th', { scope: 'col', text: h })))),
        el('tbody', {}, members.map((m) => el('tr', {},
          el('td', { text: m.name || names.get(m.device) || t('unknown_device') }),
          el('td', {}, deviceIdNode(m.device)),
          el('td', { text: roleLabel(m.role) }),
          el('td', { text: keysText(m.keys) }))))));
    }
    if (Array.isArray(v.keys) && v.keys.length) {
      sec.appendChild(el('details', {}, el('summary', { text: t('keys_here', { n: v.keys.length }) }),
        el('ul', {}, v.keys.map((k) => el('li', {}, el('code', { text: shortId(k.key_id) }), k.current ? ' (' + t('current') + ')' : '',
          (k.granted_by || []).length ? ' · ' + t('granted_by', { who: (k.granted_by || []).map((g) => g.name || shortId(g.device)).join(' ← ') }) : '')))));
    }
    root.appendChild(sec);
  }

  // Create.
  const nameIn = el('input', { type: 'text', id: 'vault-name', autocomplete: 'off', maxlength: '64', pattern: '[A-Za-z0-9._-]+' });
  const cmsg = el('p', { class: 'error', role: 'alert' });
  root.appendChild(el('form', { class: 'card narrow', 'aria-labelledby': 'create-h', on: { submit: async (e) => {
    e.preventDefault();
    cmsg.textContent = '';
    const name = nameIn.value.trim();
    if (!name) { cmsg.textContent = t('vault_name_needed'); nameIn.focus(); return; }
    try { await api('POST', '/api/vaults', { name }); announce(t('vault_created', { name }), 'good'); go('#/vaults'); } catch (err) { cmsg.textContent = errorText(err); nameIn.focus(); }
  } } },
  el('h2', { id: 'create-h', text: t('create_vault') }),
  el('div', { class: 'field' }, el('label', { for: 'vault-name', text: t('vault_name') }), nameIn, el('p', { class: 'hint', text: t('vault_name_hint') })),
  cmsg,
  el('div', { class: 'actions' }, el('button', { type: 'submit', class: 'primary', id: 'create-vault' }, t('create')))));

  // Grant.
  const writable = vaults.filter((v) => v.have_key);
  if (!writable.length) return null;
  const vaultSel = select(writable.map((v) => ({ value: v.name, label: v.name })), writable[0].name, { id: 'grant-vault' });
  const others = (devices || []).filter((d) => !d.self);
  const devSel = select([{ value: '', label: t('paste_instead') }].concat(others.map((d) => ({ value: d.device, label: (d.name || t('unknown_device')) + ' · ' + d.device.slice(0, 9) + '…' }))), '', { id: 'grant-device' });
  const paste = el('input', { type: 'text', id: 'grant-paste', autocomplete: 'off', spellcheck: 'false', class: 'mono', placeholder: 'XXXX-XXXX-…' });
  const reader = el('input', { type: 'checkbox', id: 'grant-reader' });
  const confirmBox = el('div', { class: 'confirm-box', hidden: true, id: 'grant-confirm' });
  const gmsg = el('p', { class: 'error', role: 'alert' });
  devSel.addEventListener('change', () => { paste.disabled = !!devSel.value; confirmBox.hidden = true; });
  paste.addEventListener('input', () => { confirmBox.hidden = true; });

  function chosenDevice() { return devSel.value || normaliseId(paste.value); }

  const form = el('form', { class: 'card narrow', 'aria-labelledby': 'grant-h', on: { submit: (e) => {
    e.preventDefault();
    gmsg.textContent = '';
    const dev = chosenDevice();
    if (!DEVICE_RE.test(dev)) { gmsg.textContent = t('device_id_bad'); (devSel.value ? devSel : paste).focus(); return; }
    clear(confirmBox);
    const ok = el('input', { type: 'checkbox', id: 'grant-compared' });
    const go2 = el('button', { type: 'button', class: 'primary', id: 'grant-go', disabled: true }, t('grant_now'));
    ok.addEventListener('change', () => { go2.disabled = !ok.checked; });
    go2.addEventListener('click', async () => {
      go2.disabled = true;
      gmsg.textContent = '';
      try {
        await api('POST', '/api/vaults/' + encodeURIComponent(vaultSel.value) + '/grant', { device: dev, reader: reader.checked });
        announce(t('granted', { vault: vaultSel.value, name: names.get(dev) || dev.slice(0, 9) }), 'good');
        go('#/vaults');
      } catch (err) { gmsg.textContent = errorText(err); go2.disabled = false; }
    });
    confirmBox.appendChild(el('h3', { text: t('compare_id_title') }));
    confirmBox.appendChild(el('p', { text: t('compare_id_lead') }));
    confirmBox.appendChild(el('p', { class: 'big-id' }, el('strong', { text: names.get(dev) || t('unknown_device') }), el('br'), deviceIdNode(dev)));
    confirmBox.appendChild(el('p', { text: t(reader.checked ? 'grant_as_reader' : 'grant_as_writer', { vault: vaultSel.value }) }));
    confirmBox.appendChild(el('div', { class: 'field check-field' }, el('label', { class: 'check', for: 'grant-compared' }, ok, ' ', t('compared_it'))));
    confirmBox.appendChild(el('div', { class: 'actions' }, go2));
    confirmBox.hidden = false;
    ok.focus();
  } } },
  el('h2', { id: 'grant-h', text: t('grant_title') }),
  el('p', { class: 'hint', text: t('grant_lead') }),
  el('div', { class: 'field' }, el('label', { for: 'grant-vault', text: t('vault') }), vaultSel),
  el('div', { class: 'field' }, el('label', { for: 'grant-device', text: t('colleague_device') }), devSel),
  el('div', { class: 'field' }, el('label', { for: 'grant-paste', text: t('paste_device_id') }), paste),
  el('div', { class: 'field check-field' }, el('label', { class: 'check', for: 'grant-reader' }, reader, ' ', t('reader_only'))),
  gmsg,
  el('div', { class: 'actions' }, el('button', { type: 'submit', class: 'secondary', id: 'grant-next' }, t('grant_next'))),
  confirmBox);
  root.appendChild(form);
  return null;
}

function roleLabel(r) {
  const k = { writer: 'role_writer', reader: 'role_reader', creator: 'role_creator', 'not a member': 'role_none' }[r];
  return k ? t(k) : (r || '—');
}

function keysText(keys) {
  if (Array.isArray(keys)) return keys.length ? keys.map((k) => shortId(typeof k === 'string' ? k : k.key_id)).join(', ') : '—';
  if (keys === true) return t('yes');
  if (keys === false) return t('no');
  return keys === undefined || keys === null ? '—' : String(keys);
}
