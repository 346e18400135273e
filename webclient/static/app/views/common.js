// Pieces every screen uses: a titled card, form rows, and the message area of a form.
import { ApiError } from "../api.js";
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
  if (initialError) message.show(describe(initialError, { password: true }));
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
        message.fail(error);
      }
    });
  });
  return form;
}

/** Where a form says what went wrong (or right); screen readers hear it. `fail(error)` shows
 * an error: a rate limit as one live countdown, the form's submit buttons disabled until its
 * end. */
export function messageArea() {
  const area = h("div", { class: "message", role: "alert", "aria-live": "assertive" });
  let timer = null;
  const stop = () => {
    if (timer) clearInterval(timer);
    timer = null;
    const form = area.closest("form");
    if (form && form.dataset.locked) unlock(form);
  };
  area.show = (text, kind = "error") => {
    stop();
    area.className = `message ${kind}`;
    mount(area, text);
  };
  area.clear = () => {
    stop();
    area.className = "message";
    mount(area);
  };
  area.fail = (error) => {
    if (!(error && error.code === "RATE_LIMITED" && error.retryAfter > 0)) {
      return area.show(describe(error, { password: reentersPassword(area) }));
    }
    area.show("");
    const form = area.closest("form");
    const end = Date.now() + error.retryAfter * 1000;
    // The count itself is a timer (not announced each second); the sentence is, once.
    const count = h("span", { role: "timer", "data-testid": "retry-countdown" });
    const [before, after = ""] = t("rateLimited").split("{time}");
    mount(area, before, count, after);
    if (form) lock(form);
    const tick = () => {
      const left = Math.ceil((end - Date.now()) / 1000);
      if (left <= 0 || !area.isConnected) return area.clear();
      count.textContent = clock(left);
    };
    tick();
    timer = setInterval(tick, 1000);
  };
  return area;
}

function lock(form) {
  form.dataset.locked = "true";
  form.querySelectorAll("button[type=submit]").forEach((button) => (button.disabled = true));
}

function unlock(form) {
  delete form.dataset.locked;
  form.querySelectorAll("button[type=submit]").forEach((button) => (button.disabled = false));
}

/** 14:58, or 42 s under a minute. */
function clock(seconds) {
  if (seconds < 60) return t("seconds", { seconds });
  const minutes = Math.floor(seconds / 60);
  return `${minutes}:${String(seconds % 60).padStart(2, "0")}`;
}

/** A form asking the signed-in person for their password again (no email field). */
function reentersPassword(area) {
  const form = area.closest("form");
  return Boolean(form && form.querySelector("input[type=password]") && !form.querySelector("input[type=email]"));
}

/** The text to show for a payload error or a thrown error; `password`: the form re-enters the
 * password of the signed-in account, so wrong credentials can only be a wrong password. */
export function describe(error, { password = false } = {}) {
  if (!error) return "";
  if (error.code === "NETWORK") return t("networkError");
  if (error.code === "UNAUTHENTICATED") return t("sessionEnded");
  if (error.code === "INVALID_CREDENTIALS" && password) return t("wrongPassword");
  if (error.code === "RATE_LIMITED" && error.retryAfter) {
    return t("rateLimited", { time: clock(error.retryAfter) });
  }
  // A bug of this page, not something the server said.
  if (error instanceof Error && !(error instanceof ApiError)) {
    console.error(error);
    return t("unexpectedError");
  }
  return error.message || t("unexpectedError");
}

export function formatDate(iso, lang) {
  if (!iso) return "—";
  return new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short" }).format(new Date(iso));
}
