// Elements built with the DOM API: text is always text (never parsed as HTML), and no element
// carries a style attribute, so the page keeps working under `style-src 'self'`.

/** h("button", {class: "primary", onclick: fn}, "Label", child, …) */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "class") element.className = value;
    else if (name === "text") element.textContent = value;
    else if (name in element && typeof value !== "string") element[name] = value;
    else element.setAttribute(name, value === true ? "" : value);
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
}

/** Replace the children of `element`. */
export function mount(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

/** The values of a form's named fields. */
export function values(form) {
  return Object.fromEntries(new FormData(form).entries());
}

/** Disable a form's buttons while `work` runs, so a double click sends one request. (Its
 * fields stay enabled: FormData leaves disabled fields out.) */
export async function busy(form, work) {
  const buttons = [...form.querySelectorAll("button")];
  const before = buttons.map((button) => button.disabled);
  buttons.forEach((button) => (button.disabled = true));
  form.setAttribute("aria-busy", "true");
  try {
    return await work();
  } finally {
    buttons.forEach((button, index) => (button.disabled = before[index]));
    // A rate limit's countdown keeps the submit buttons disabled until its end.
    if (form.dataset.locked) form.querySelectorAll("button[type=submit]").forEach((button) => (button.disabled = true));
    form.removeAttribute("aria-busy");
  }
}
