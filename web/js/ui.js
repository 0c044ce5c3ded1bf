// Reusable widgets: status announcements, dialogs, form fields with inline
// errors, the actions menu button, copy buttons, badges and the pager.

import { h, icon, clear } from './dom.js';

let uidCounter = 0;
export function uid(prefix = 'id') {
  uidCounter += 1;
  return `${prefix}-${uidCounter}`;
}

// ---- status messages (aria-live) -------------------------------------------

/** Shows a short-lived message in the polite live region (#status). */
export function announce(message, tone = 'info') {
  const region = document.getElementById('status');
  if (!region) return;
  const toast = h(
    'div',
    { class: `toast toast-${tone}` },
    icon(tone === 'error' ? 'warning' : 'check'),
    h('span', {}, message),
  );
  region.append(toast);
  while (region.children.length > 3) region.firstElementChild.remove();
  setTimeout(() => {
    toast.classList.add('toast-leaving');
    setTimeout(() => toast.remove(), 300);
  }, tone === 'error' ? 8000 : 4500);
}

// ---- inline errors -----------------------------------------------------------

/** An alert box with the server's message (data-testid="error"). */
export function errorBox(message, extra) {
  return h(
    'div',
    { class: 'alert alert-error', role: 'alert', 'data-testid': 'error' },
    icon('warning'),
    h('div', { class: 'alert-body' }, h('span', {}, message), extra),
  );
}

/** A button that runs `fn` again (next to an error box, data-testid="retry"). */
export function retryButton(fn) {
  const button = h('button', { type: 'button', class: 'btn btn-secondary btn-sm', 'data-testid': 'retry' }, icon('refresh'), h('span', {}, 'Retry'));
  button.addEventListener('click', fn);
  return button;
}

// ---- form fields -----------------------------------------------------------

/**
 * A labelled control. `type` may be 'textarea', 'select' (with `options`:
 * [{value, label}]) or 'checkbox' (`value` true checks it; FormData then
 * holds `name` = 'on' only when checked). The control gets `name`, so
 * BAD_USER_INPUT errors naming `input.<name>` land next to it.
 */
export function field({
  label,
  name,
  type = 'text',
  value,
  required = false,
  maxlength,
  minlength,
  hint,
  testid,
  autocomplete,
  options = [],
  rows = 3,
  autofocus = false,
  min,
  pattern,
  spellcheck,
  optional = false,
}) {
  const id = uid(`f-${name}`);
  const hintId = hint ? `${id}-hint` : null;
  const common = {
    id,
    name,
    required,
    maxlength,
    minlength,
    autocomplete,
    autofocus,
    pattern,
    spellcheck,
    'data-testid': testid,
    'aria-describedby': hintId,
  };
  let control;
  if (type === 'checkbox') {
    control = h('input', { ...common, type, class: 'checkbox', checked: Boolean(value) });
    return h(
      'div',
      { class: 'field field-check', 'data-field': name },
      h('label', { for: id, class: 'check' }, control, h('span', {}, label)),
      hint ? h('p', { class: 'hint', id: hintId }, hint) : null,
    );
  }
  if (type === 'textarea') {
    control = h('textarea', { ...common, rows, class: 'input' });
    if (value) control.value = value;
  } else if (type === 'select') {
    control = h(
      'select',
      { ...common, class: 'input' },
      options.map((opt) => h('option', { value: opt.value, selected: opt.value === value }, opt.label)),
    );
  } else {
    control = h('input', { ...common, type, class: 'input', min, value: value ?? null });
  }
  return h(
    'div',
    { class: 'field', 'data-field': name },
    h(
      'label',
      { for: id },
      label,
      optional ? h('span', { class: 'optional' }, ' (optional)') : null,
    ),
    control,
    hint ? h('p', { class: 'hint', id: hintId }, hint) : null,
  );
}

export function clearFormErrors(form) {
  for (const el of form.querySelectorAll('.field-error, .form-error')) el.remove();
  for (const el of form.querySelectorAll('[aria-invalid]')) {
    el.removeAttribute('aria-invalid');
    const describedBy = (el.getAttribute('aria-describedby') || '')
      .split(' ')
      .filter((part) => part && !part.endsWith('-err'));
    if (describedBy.length) el.setAttribute('aria-describedby', describedBy.join(' '));
    else el.removeAttribute('aria-describedby');
  }
}

/** Puts `message` under the control named `name`; false if there is none. */
export function setFieldError(form, name, message) {
  const control = name ? form.elements.namedItem(name) : null;
  if (!control || !(control instanceof HTMLElement)) return false;
  const errId = `${control.id}-err`;
  const error = h('p', { class: 'field-error', id: errId, 'data-testid': 'error' }, icon('warning', { size: 14 }), message);
  control.closest('.field').append(error);
  control.setAttribute('aria-invalid', 'true');
  control.setAttribute('aria-describedby', [control.getAttribute('aria-describedby'), errId].filter(Boolean).join(' '));
  control.focus();
  return true;
}

export function setFormError(form, message) {
  const box = errorBox(message);
  box.classList.add('form-error');
  const slot = form.querySelector('.form-error-slot') || form;
  slot.prepend(box);
}

/** Shows an ApiError on a form: next to its field when it names one. */
export function showFormError(form, error) {
  clearFormErrors(form);
  if (error.code === 'BAD_USER_INPUT' && error.field && setFieldError(form, error.field, error.fieldMessage)) {
    return;
  }
  setFormError(form, error.message);
}

/** The server's password policy, as a hint (the server decides). */
export const PASSWORD_HINT = '12 to 1024 characters.';

export function setBusy(button, busy) {
  if (busy) {
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
  } else {
    button.disabled = false;
    button.removeAttribute('aria-busy');
  }
}

// ---- dialogs -------------------------------------------------------------------

/**
 * Opens a modal <dialog>. Focus goes to `[autofocus]` or the first control and
 * returns to the element that had it (or `returnFocus()`) when it closes.
 */
export function openDialog({ title, content, footer, testid, size = 'md', onClose, dismissable = true, role }) {
  const opener = document.activeElement;
  const titleId = uid('dlg-title');
  const closeButton = dismissable
    ? h(
        'button',
        { type: 'button', class: 'btn-icon dialog-close', 'aria-label': 'Close', 'data-testid': 'dialog-close' },
        icon('x'),
      )
    : null;
  const dialog = h(
    'dialog',
    { class: `dialog dialog-${size}`, 'aria-labelledby': titleId, 'data-testid': testid, role },
    h('div', { class: 'dialog-head' }, h('h2', { id: titleId }, title), closeButton),
    h('div', { class: 'dialog-body' }, content),
    footer ? h('div', { class: 'dialog-foot' }, footer) : null,
  );
  closeButton?.addEventListener('click', () => dialog.close('cancel'));
  dialog.addEventListener('cancel', (event) => {
    if (!dismissable) event.preventDefault();
  });
  // A click on the backdrop (the dialog element itself) dismisses it.
  dialog.addEventListener('mousedown', (event) => {
    if (dismissable && event.target === dialog) {
      const r = dialog.getBoundingClientRect();
      const inside = event.clientX >= r.left && event.clientX <= r.right && event.clientY >= r.top && event.clientY <= r.bottom;
      if (!inside) dialog.close('cancel');
    }
  });
  dialog.addEventListener('close', () => {
    dialog.remove();
    onClose?.(dialog.returnValue);
    const target = opener && opener.isConnected ? opener : document.getElementById('main');
    target?.focus?.({ preventScroll: false });
  });
  document.body.append(dialog);
  dialog.showModal();
  const first = dialog.querySelector('[autofocus]') ||
    dialog.querySelector('.dialog-body input, .dialog-body select, .dialog-body textarea') ||
    dialog.querySelector('.dialog-foot .btn-primary, .dialog-foot .btn-danger');
  first?.focus();
  return dialog;
}

/**
 * A dialog holding a form. `onSubmit(values, form)` runs the mutation; an
 * ApiError it throws is shown next to the field it names (or at the top).
 * The dialog closes when it resolves.
 */
export function formDialog({ title, intro, fields, submitLabel, submitTestid, testid, onSubmit, danger = false }) {
  const submit = h(
    'button',
    { type: 'submit', class: danger ? 'btn btn-danger' : 'btn btn-primary', 'data-testid': submitTestid },
    h('span', {}, submitLabel),
  );
  const cancel = h('button', { type: 'button', class: 'btn btn-secondary', 'data-testid': 'dialog-cancel' }, 'Cancel');
  const formId = uid('form');
  const form = h(
    'form',
    { id: formId, class: 'form', novalidate: false },
    h('div', { class: 'form-error-slot' }),
    intro ? h('p', { class: 'dialog-intro' }, intro) : null,
    fields,
  );
  submit.setAttribute('form', formId);
  const dialog = openDialog({ title, content: form, footer: [cancel, submit], testid });
  cancel.addEventListener('click', () => dialog.close('cancel'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearFormErrors(form);
    if (!form.reportValidity()) return;
    const values = Object.fromEntries(new FormData(form).entries());
    setBusy(submit, true);
    try {
      await onSubmit(values, form);
      dialog.close('ok');
    } catch (error) {
      if (error.handled) {
        dialog.close('cancel');
        return;
      }
      showFormError(form, error);
    } finally {
      setBusy(submit, false);
    }
  });
  return dialog;
}

/**
 * Asks for confirmation; `onConfirm()` runs while the dialog shows it is busy.
 * Its error is shown in the dialog, which then stays open.
 */
export function confirmDialog({ title, message, confirmLabel, danger = true, onConfirm }) {
  const ok = h(
    'button',
    { type: 'button', class: danger ? 'btn btn-danger' : 'btn btn-primary', 'data-testid': 'confirm-ok' },
    h('span', {}, confirmLabel),
  );
  const cancel = h(
    'button',
    { type: 'button', class: 'btn btn-secondary', 'data-testid': 'confirm-cancel', autofocus: true },
    'Cancel',
  );
  const slot = h('div', { class: 'form-error-slot' });
  const dialog = openDialog({
    title,
    content: [slot, h('div', { class: 'confirm-message' }, message)],
    footer: [cancel, ok],
    testid: 'confirm-dialog',
    size: 'sm',
    role: 'alertdialog',
  });
  cancel.focus();
  cancel.addEventListener('click', () => dialog.close('cancel'));
  ok.addEventListener('click', async () => {
    clear(slot);
    setBusy(ok, true);
    try {
      await onConfirm();
      dialog.close('ok');
    } catch (error) {
      if (error.handled) {
        dialog.close('cancel');
        return;
      }
      slot.append(errorBox(error.message));
      ok.focus();
    } finally {
      setBusy(ok, false);
    }
  });
  return dialog;
}

/**
 * The one-time secret dialog: a secret the server shows once (a key's
 * secret key, a webhook's signing secret), with a warning, a Copy button
 * per value and `details` under them. It closes only with **Done**, and
 * forgets the values when it does. `values`: [{label, hint, value, testid,
 * copyTestid, what}].
 */
export function secretDialog({ title, warning, values, details = null }) {
  const codes = values.map((item) => h('code', { class: 'secret-value', 'data-testid': item.testid }, item.value));
  const done = h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'secret-done', autofocus: true }, 'Done');
  const dialog = openDialog({
    title,
    testid: 'secret-dialog',
    dismissable: false,
    content: [
      h(
        'div',
        { class: 'alert alert-warning', role: 'alert' },
        icon('warning'),
        h('div', { class: 'alert-body' }, h('strong', { 'data-testid': 'secret-warning' }, warning.title), h('span', {}, ` ${warning.text}`)),
      ),
      h(
        'dl',
        { class: 'secret-list' },
        values.map((item, index) => [
          h('dt', {}, item.label, item.hint ? [' ', h('span', { class: 'muted' }, `(${item.hint})`)] : null),
          h('dd', {}, codes[index], copyButton(() => codes[index].textContent, { what: item.what, testid: item.copyTestid })),
        ]),
      ),
      details,
    ],
    footer: [done],
    onClose: () => {
      // Forget the secret: nothing else holds it.
      for (const code of codes) code.textContent = '';
    },
  });
  done.addEventListener('click', () => dialog.close('ok'));
  done.focus();
  return dialog;
}

// ---- actions menu (menu button pattern) ---------------------------------------

let openMenuClose = null;

/**
 * A menu button. `items()` is called each time it opens and returns (or
 * resolves to, while the button shows aria-busy) a list of
 * {label, testid, onSelect, danger, icon, current, attrs} or 'separator'.
 * `current` marks an item with aria-current; `attrs` are extra attributes of
 * the item (e.g. data-*). `align: 'start'` opens the menu under the button's
 * left edge instead of its right; `className`/`menuClass` add classes.
 * Keyboard: Enter/Space/ArrowDown open on the first item, ArrowUp on the
 * last; ArrowUp/ArrowDown/Home/End move; a letter jumps; Escape closes and
 * returns focus to the button; Tab closes.
 */
export function menuButton({ label, testid = 'key-actions', items, text, align = 'end', className = '', menuClass = '' }) {
  const menuId = uid('menu');
  const button = h(
    'button',
    {
      type: 'button',
      class: `${text ? 'btn btn-secondary btn-sm menu-trigger' : 'btn-icon menu-trigger'}${className ? ` ${className}` : ''}`,
      'aria-haspopup': 'menu',
      'aria-expanded': 'false',
      'aria-controls': menuId,
      'aria-label': label,
      title: label,
      'data-testid': testid,
    },
    text ? [h('span', {}, text)] : icon('more', { size: 18 }),
  );
  const menu = h('div', { class: menuClass ? `menu ${menuClass}` : 'menu', role: 'menu', id: menuId, 'aria-label': label, hidden: true });
  const wrapper = h('div', { class: 'menu-wrap' }, button, menu);

  const menuItems = () => [...menu.querySelectorAll('[role="menuitem"]')];
  const focusItem = (index) => {
    const list = menuItems();
    if (!list.length) return;
    const item = list[(index + list.length) % list.length];
    item.focus({ preventScroll: true });
    // Long (scrolling) menus: keep the focused item visible.
    item.scrollIntoView?.({ block: 'nearest' });
  };

  function place() {
    const rect = button.getBoundingClientRect();
    const width = menu.offsetWidth;
    const height = menu.offsetHeight;
    let left = Math.min(align === 'start' ? rect.left : rect.right - width, window.innerWidth - width - 8);
    left = Math.max(8, left);
    let top = rect.bottom + 4;
    if (top + height > window.innerHeight - 8 && rect.top - height - 4 > 8) top = rect.top - height - 4;
    menu.style.left = `${left}px`;
    menu.style.top = `${top}px`;
  }

  function onOutside(event) {
    if (!wrapper.contains(event.target)) close(false);
  }
  function onViewportChange() {
    // Follow the button while the page scrolls; close once it leaves the viewport.
    const rect = button.getBoundingClientRect();
    if (rect.bottom < 0 || rect.top > window.innerHeight) close(false);
    else place();
  }

  // Each open() (and close()) supersedes a still-loading asynchronous open.
  let openSeq = 0;

  function close(returnFocus = true) {
    openSeq += 1;
    button.removeAttribute('aria-busy');
    if (menu.hidden) return;
    menu.hidden = true;
    // Items exist only while the menu is open (no stale hidden duplicates).
    clear(menu);
    button.setAttribute('aria-expanded', 'false');
    document.removeEventListener('pointerdown', onOutside, true);
    window.removeEventListener('resize', onViewportChange);
    window.removeEventListener('scroll', onViewportChange, true);
    if (openMenuClose === close) openMenuClose = null;
    if (returnFocus) button.focus();
  }

  function open(focusIndex = 0) {
    if (openMenuClose && openMenuClose !== close) openMenuClose(false);
    openSeq += 1;
    const seq = openSeq;
    const list = items();
    if (list && typeof list.then === 'function') {
      button.setAttribute('aria-busy', 'true');
      list.then(
        (loaded) => {
          if (seq !== openSeq || !button.isConnected) return;
          button.removeAttribute('aria-busy');
          show(loaded, focusIndex);
        },
        () => {
          if (seq === openSeq) button.removeAttribute('aria-busy');
        },
      );
      return;
    }
    show(list, focusIndex);
  }

  function show(list, focusIndex) {
    if (openMenuClose && openMenuClose !== close) openMenuClose(false);
    clear(menu);
    for (const item of list || []) {
      if (item === 'separator') {
        menu.append(h('div', { class: 'menu-sep', role: 'separator' }));
        continue;
      }
      const el = h(
        'button',
        {
          ...(item.attrs || {}),
          type: 'button',
          role: 'menuitem',
          tabindex: '-1',
          class: item.danger ? 'menu-item menu-item-danger' : 'menu-item',
          'data-testid': item.testid,
          'aria-current': item.current ? 'true' : null,
        },
        item.icon ? icon(item.icon) : null,
        h('span', {}, item.label),
      );
      el.addEventListener('click', () => {
        close(true);
        item.onSelect();
      });
      menu.append(el);
    }
    if (!menuItems().length) return;
    menu.hidden = false;
    button.setAttribute('aria-expanded', 'true');
    place();
    openMenuClose = close;
    document.addEventListener('pointerdown', onOutside, true);
    window.addEventListener('resize', onViewportChange);
    window.addEventListener('scroll', onViewportChange, true);
    focusItem(focusIndex);
  }

  button.addEventListener('click', () => {
    if (menu.hidden) open(0);
    else close(true);
  });
  button.addEventListener('keydown', (event) => {
    if (event.key === 'ArrowDown') {
      event.preventDefault();
      open(0);
    } else if (event.key === 'ArrowUp') {
      event.preventDefault();
      open(-1);
    }
  });
  menu.addEventListener('keydown', (event) => {
    const list = menuItems();
    const index = list.indexOf(document.activeElement);
    switch (event.key) {
      case 'ArrowDown':
        event.preventDefault();
        focusItem(index + 1);
        break;
      case 'ArrowUp':
        event.preventDefault();
        focusItem(index - 1);
        break;
      case 'Home':
        event.preventDefault();
        focusItem(0);
        break;
      case 'End':
        event.preventDefault();
        focusItem(-1);
        break;
      case 'Escape':
        event.preventDefault();
        event.stopPropagation();
        close(true);
        break;
      case 'Tab':
        close(false);
        break;
      case ' ':
      case 'Enter':
        // Menu items are <button>s: Enter and Space activate them natively.
        break;
      default:
        if (event.key.length === 1 && /\S/.test(event.key)) {
          const letter = event.key.toLowerCase();
          const start = index + 1;
          for (let i = 0; i < list.length; i += 1) {
            const candidate = list[(start + i) % list.length];
            if (candidate.textContent.trim().toLowerCase().startsWith(letter)) {
              candidate.focus();
              break;
            }
          }
        }
    }
  });
  return wrapper;
}

// ---- copy ------------------------------------------------------------------------

async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      // fall through to the selection-based copy
    }
  }
  const area = h('textarea', { class: 'visually-hidden', 'aria-hidden': 'true', tabindex: '-1', readonly: true });
  area.value = text;
  (document.querySelector('dialog[open]') || document.body).append(area);
  area.select();
  let ok = false;
  try {
    ok = document.execCommand('copy');
  } catch {
    ok = false;
  }
  area.remove();
  return ok;
}

/** A Copy button for the text `getText()` returns; `what` names it for the announcement. */
export function copyButton(getText, { what, testid, compact = false } = {}) {
  const labelText = h('span', {}, 'Copy');
  const button = h(
    'button',
    {
      type: 'button',
      class: compact ? 'btn btn-ghost btn-sm copy-btn' : 'btn btn-secondary btn-sm copy-btn',
      'aria-label': `Copy ${what}`,
      'data-testid': testid,
    },
    icon('copy'),
    labelText,
  );
  let timer = null;
  button.addEventListener('click', async () => {
    const ok = await copyText(getText());
    if (ok) {
      labelText.textContent = 'Copied';
      button.classList.add('copied');
      announce(`${what[0].toUpperCase()}${what.slice(1)} copied to the clipboard.`);
      clearTimeout(timer);
      timer = setTimeout(() => {
        labelText.textContent = 'Copy';
        button.classList.remove('copied');
      }, 2000);
    } else {
      announce(`Could not copy the ${what}: select it and copy it by hand.`, 'error');
    }
  });
  return button;
}

// ---- badges, pager -------------------------------------------------------------------

const STATE_TITLES = {
  ACTIVE: 'Active: the key authenticates',
  INACTIVE: 'Inactive: the key is refused; it can be activated again or deleted',
  EXPIRED: 'Expired: the key is refused for good; it can only be deleted',
};

export function stateBadge(state) {
  return h(
    'span',
    { class: `badge badge-${state.toLowerCase()}`, 'data-testid': 'key-state', 'data-state': state, title: STATE_TITLES[state] },
    h('span', { class: 'badge-dot', 'aria-hidden': 'true' }),
    state,
  );
}

export const ROLE_LABELS = { OWNER: 'Owner', MEMBER: 'Member', READ_ONLY: 'Read-only' };

export function roleBadge(role, testid = 'key-role-badge') {
  return h('span', { class: `role role-${role.toLowerCase()}`, 'data-testid': testid, 'data-role': role }, ROLE_LABELS[role] || role);
}

const USER_STATE_TITLES = {
  ACTIVE: 'Active: the user can sign in',
  DISABLED: 'Disabled: the user cannot sign in; they can be enabled again or deleted',
};

/** A user's state (ACTIVE / DISABLED), like a key's state badge. */
export function userStateBadge(state) {
  return h(
    'span',
    {
      class: `badge ${state === 'ACTIVE' ? 'badge-active' : 'badge-inactive'}`,
      'data-testid': 'user-state',
      'data-state': state,
      title: USER_STATE_TITLES[state],
    },
    h('span', { class: 'badge-dot', 'aria-hidden': 'true' }),
    state,
  );
}

/**
 * A user as "Display Name" (then `tags`, e.g. "you") with the username under
 * it when they differ.
 */
export function userName(user, { testid = 'user-name', tags = [] } = {}) {
  return [
    h('span', { class: 'row-title', 'data-testid': testid }, user.displayName || user.username),
    tags,
    user.displayName && user.displayName !== user.username ? h('div', { class: 'row-sub mono' }, user.username) : null,
  ];
}

/**
 * Links between the pages of one thing, shown as tabs (e.g. a project's
 * API & Keys and Members). `tabs`: [{href, label, testid, current, icon}].
 */
export function tabNav({ label, tabs }) {
  return h(
    'nav',
    { class: 'tabs', 'aria-label': label },
    tabs.map((tab) =>
      h(
        'a',
        { href: tab.href, class: 'tab', 'data-testid': tab.testid, 'aria-current': tab.current ? 'page' : null },
        tab.icon ? icon(tab.icon) : null,
        h('span', {}, tab.label),
      ),
    ),
  );
}

/**
 * Shows a failed row action's error in an extra row under `row` (or at the
 * top of `container` when the row is gone); `attrs` mark the error row
 * (e.g. `data-key-id`). Earlier row errors in `container` are removed.
 */
export function showRowError(container, row, message, attrs = {}) {
  clearRowErrors(container);
  if (!row) {
    container.prepend(errorBox(message));
    return;
  }
  row.after(
    h(
      'tr',
      { ...attrs, class: 'row-error', role: 'row', 'data-testid': 'row-error' },
      h('td', { role: 'cell', colspan: String(row.children.length) }, errorBox(message)),
    ),
  );
}

export function clearRowErrors(container) {
  for (const old of container.querySelectorAll('.row-error')) old.remove();
}

/** The page sizes a list offers. */
export const PAGE_SIZES = [10, 20, 50, 100];

/**
 * Previous/Next paging. `page` = { index, size, count, totalCount, hasNext }.
 */
export function pager({ label, page, onPrev, onNext, extra = null }) {
  const first = page.count === 0 ? 0 : page.index * page.size + 1;
  const last = page.index * page.size + page.count;
  const summary = page.totalCount === 0 ? 'None yet' : `${first}–${last} of ${page.totalCount}`;
  const prev = h(
    'button',
    { type: 'button', class: 'btn btn-secondary btn-sm', 'data-testid': 'page-prev', disabled: page.index === 0 },
    icon('chevronLeft'),
    h('span', {}, 'Previous'),
  );
  const next = h(
    'button',
    { type: 'button', class: 'btn btn-secondary btn-sm', 'data-testid': 'page-next', disabled: !page.hasNext },
    h('span', {}, 'Next'),
    icon('chevronRight'),
  );
  prev.addEventListener('click', onPrev);
  next.addEventListener('click', onNext);
  return h(
    'nav',
    { class: 'pager', 'aria-label': `${label} pages` },
    h('span', { class: 'pager-summary', 'data-testid': 'page-summary', 'aria-live': 'polite' }, summary),
    h('div', { class: 'pager-buttons' }, extra, prev, next),
  );
}

/** The "rows per page" select of a pager; `onChange(size)` when another is picked. */
export function pageSizeSelect({ id, size, onChange }) {
  const select = h(
    'select',
    { id, class: 'input input-sm', 'data-testid': 'page-size' },
    PAGE_SIZES.map((n) => h('option', { value: String(n), selected: n === size }, `${n} / page`)),
  );
  select.addEventListener('change', () => onChange(Number(select.value)));
  return h('div', { class: 'page-size' }, h('label', { for: id, class: 'visually-hidden' }, 'Rows per page'), select);
}

/** Re-renders while keeping keyboard focus on the "same" element (by data-focus-key + data-testid). */
export function keepFocus(container, render) {
  const active = document.activeElement;
  let key = null;
  let testid = null;
  if (active && container.contains(active)) {
    key = active.closest('[data-focus-key]')?.getAttribute('data-focus-key') ?? null;
    testid = active.getAttribute('data-testid');
  }
  render();
  if (key !== null || testid) {
    const scope = key !== null ? container.querySelector(`[data-focus-key="${CSS.escape(key)}"]`) : container;
    const target = scope && testid ? scope.querySelector(`[data-testid="${CSS.escape(testid)}"]`) : null;
    (target || scope)?.focus?.();
  }
}
