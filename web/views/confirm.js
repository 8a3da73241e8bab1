// One in-page confirmation for what cannot be taken back (erasing a customer, deleting a tag,
// revoking a session…), in place of the browser's window.confirm, which cannot be styled, read
// in the page's language or tested. A modal <dialog role="alertdialog">, named by its question
// and described by what will happen; focus starts on Cancel (the safe answer), Escape or
// Cancel say no, and focus goes back to the button that asked. The confirming button names the
// action ("Delete tag"), never just "OK".

import { h, uid } from '../dom.js';
import { t } from '../i18n.js';
import { modal } from './dialog.js';

/**
 * Asks before a destructive action: `title` is the question, `message` what happens, `action`
 * the confirming button's label. Resolves true when confirmed, false otherwise.
 */
export function confirmAction({ title, message, action }) {
  const titleId = uid('confirm-title');
  const textId = uid('confirm-text');
  const cancel = h('button', { type: 'button', class: 'btn' }, t('common.cancel'));
  const go = h('button', { type: 'button', class: 'btn btn-danger', 'data-confirm': '' }, action);
  const dialog = h('dialog', {
    class: 'confirm-dialog', role: 'alertdialog', 'aria-modal': 'true', 'aria-labelledby': titleId, 'aria-describedby': textId,
  },
  h('h2', { id: titleId }, title),
  h('p', { id: textId, class: 'muted' }, message),
  h('div', { class: 'actions' }, cancel, go));
  const box = modal(dialog);
  return new Promise((resolve) => {
    let confirmed = false;
    cancel.addEventListener('click', () => dialog.close());
    go.addEventListener('click', () => {
      confirmed = true;
      dialog.close();
    });
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(confirmed);
    });
    box.open(cancel);
  });
}
