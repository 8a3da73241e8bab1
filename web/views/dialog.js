// What every modal <dialog> of the app does the same way (the "?" overlay, confirmations): the
// page behind is inert (showModal), Tab and Shift+Tab stay inside, Escape or a click on the
// backdrop close it, and focus goes back to where it was before it opened.

const FOCUSABLE = 'button:not([disabled]), [href], input:not([disabled]), select:not([disabled]), [tabindex]:not([tabindex="-1"])';

/** Adds `dialog` to the page as a modal; `open(first)` shows it with focus on `first`. */
export function modal(dialog) {
  let returnTo = null;
  // Escape fires "cancel", then "close".
  dialog.addEventListener('close', () => {
    const target = returnTo;
    returnTo = null;
    if (target && target.isConnected) target.focus();
  });
  dialog.addEventListener('keydown', (e) => {
    if (e.key !== 'Tab') return;
    const focusable = [...dialog.querySelectorAll(FOCUSABLE)];
    const first = focusable[0];
    const last = focusable[focusable.length - 1];
    if (e.shiftKey && document.activeElement === first) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && document.activeElement === last) {
      e.preventDefault();
      first.focus();
    }
  });
  // A click on the backdrop (outside the box) closes it too.
  dialog.addEventListener('click', (e) => {
    if (e.target !== dialog) return;
    const r = dialog.getBoundingClientRect();
    const inside = e.clientX >= r.left && e.clientX <= r.right && e.clientY >= r.top && e.clientY <= r.bottom;
    if (!inside) dialog.close();
  });
  document.body.append(dialog);
  return {
    open(first) {
      if (dialog.open) return;
      const active = document.activeElement;
      returnTo = active instanceof HTMLElement && active !== document.body ? active : null;
      dialog.showModal();
      if (first) first.focus();
    },
  };
}
