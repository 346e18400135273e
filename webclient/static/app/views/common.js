// Pieces every screen uses: a titled card, form rows, and the message area of a form.
import { busy, h, mount, values } from "../dom.js";
import { t } from "../i18n.js";

export function card(title, ...children) {
  return h("section", { class: "card" }, title ? h("h2", { text: title }) : null, ...children);
}

let fields = 0;

export function field(label, input, hint) {
  // Several forms of a page may have a field of the same name: ids stay unique.
  fields += 1;
  const id = input.id || `f-${input.name}-${fields}`;
  input.id = id;
  return h(
    "div",
    { class: "field" },
    h("label", { for: id, text: label }),
    input,
    hint ? h("p", { class: "hint", text: hint }) : null,
  );
}

export function passwordInput(name = "password") {
  return h("input", { type: "password", name, required: true, autocomplete: "current-password" });
}

/** A form asking for the password; `submit(password, message)` does the work. */
export function passwordForm(label, submitText, submit, testid, initialError) {
  const message = messageArea();
  if (initialError) message.show(initialError);
  const form = h(
    "form",
    { class: "stack", "data-testid": testid },
    field(label, passwordInput()),
    message,
    h("button", { type: "submit", class: "primary", text: submitText }),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(form, async () => {
      message.clear();
      try {
        await submit(values(form).password, message);
      } catch (error) {
        message.show(describe(error));
      }
    });
  });
  return form;
}

/** Where a form says what went wrong (or right); screen readers hear it. */
export function messageArea() {
  const area = h("div", { class: "message", role: "alert", "aria-live": "assertive" });
  area.show = (text, kind = "error") => {
    area.className = `message ${kind}`;
    mount(area, text);
  };
  area.clear = () => {
    area.className = "message";
    mount(area);
  };
  return area;
}

/** The text to show for a payload error or a thrown error. */
export function describe(error) {
  if (!error) return "";
  if (error.code === "RATE_LIMITED" && error.retryAfter) {
    return `${error.message} ${t("retryIn", { seconds: error.retryAfter })}`;
  }
  if (error.code === "NETWORK" || error instanceof TypeError) return t("networkError");
  return error.message || t("unexpectedError");
}

export function formatDate(iso, lang) {
  if (!iso) return "—";
  return new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short" }).format(new Date(iso));
}
