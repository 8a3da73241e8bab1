// Element building without HTML strings: every child that is not a Node becomes a text node,
// so text from customers or teammates can never turn into markup.

const PROPS = new Set(['value', 'checked', 'disabled', 'selected', 'hidden', 'indeterminate', 'readOnly', 'required', 'multiple']);

export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  append(el, children);
  if (props) {
    for (const [key, value] of Object.entries(props)) {
      if (value === undefined || value === null) continue;
      if (key === 'class') el.className = Array.isArray(value) ? value.filter(Boolean).join(' ') : value;
      else if (key === 'dataset') Object.assign(el.dataset, value);
      else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
      else if (PROPS.has(key)) el[key] = value;
      else if (value === false) continue;
      else el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replaces all children of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

export function debounce(fn, ms) {
  let timer = null;
  const run = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => { timer = null; fn(...args); }, ms);
  };
  run.cancel = () => clearTimeout(timer);
  return run;
}

let idCounter = 0;
export function uid(prefix = 'el') {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}
