// Creating an account (#/signup), and the account's settings (#/account): company, billing
// contact (a new address gets its own verification link), language, and the signed-in
// sessions and devices (end one, or every other one).
import { firstError, gql } from "../api.js";
import { busy, h, mount, values } from "../dom.js";
import { language, t } from "../i18n.js";
import { card, field, formatDate, messageArea } from "./common.js";

const SIGN_UP = `mutation SignUp($input: SignUpInput!) {
  signUp(input: $input) { session { token } errors { code field message retryAfter } }
}`;
const SESSION_FIELDS = `sessions { id createdAt lastSeenAt ipAddress userAgent deviceLabel current rememberedUntil }`;
const ACCOUNT_FIELDS = `email companyName billingContactEmail billingContactVerified locale ${SESSION_FIELDS}`;
const ACCOUNT = `query Account { viewer { ${ACCOUNT_FIELDS} } }`;
const UPDATE = `mutation UpdateAccount($input: UpdateAccountInput!) {
  updateAccount(input: $input) { account { ${ACCOUNT_FIELDS} } errors { code field message retryAfter } }
}`;
const REVOKE = `mutation RevokeSession($input: RevokeSessionInput!) {
  revokeSession(input: $input) { account { ${SESSION_FIELDS} } errors { code field message } }
}`;
const SIGN_OUT_OTHERS = `mutation SignOutOthers {
  signOutEverywhere(input: { keepCurrent: true }) { account { ${SESSION_FIELDS} } errors { code field message } }
}`;

/** Submit `form` to `work(values, message)`; its buttons are disabled meanwhile. */
function onSubmit(form, message, work) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(form, async () => {
      message.clear();
      try {
        await work(values(form), message);
      } catch (error) {
        message.fail(error);
      }
    });
  });
}

export function signUpPage(ctx) {
  const message = messageArea();
  const form = h(
    "form",
    { class: "stack", "data-testid": "sign-up" },
    field(t("email"), h("input", { type: "email", name: "email", required: true, autocomplete: "username" })),
    field(
      t("password"),
      h("input", { type: "password", name: "password", required: true, minlength: "12", autocomplete: "new-password" }),
      t("newPasswordHint"),
    ),
    field(t("company"), h("input", { name: "companyName", autocomplete: "organization", maxlength: "200" }), t("optional")),
    message,
    h("button", { type: "submit", class: "primary", text: t("signUp") }),
    h("p", { class: "aside" }, h("a", { href: "#/signin", text: t("haveAccount") })),
  );
  onSubmit(form, message, async ({ email, password, companyName }) => {
    const input = { email, password, companyName: companyName.trim() || null, locale: language().toUpperCase() };
    const payload = (await gql(SIGN_UP, { input })).signUp;
    const error = firstError(payload);
    if (error) return message.fail(error);
    ctx.signedIn(payload.session.token);
  });
  return card(t("signUpTitle"), h("p", { class: "lead", text: t("signUpLead") }), form);
}

function profileCard(ctx, account, updated) {
  const message = messageArea();
  const locale = h(
    "select",
    { name: "locale" },
    ["FR", "EN"].map((value) => h("option", { value, selected: value === account.locale, text: t(`locale.${value}`) })),
  );
  const form = h(
    "form",
    { class: "stack", "data-testid": "profile" },
    field(t("company"), h("input", { name: "companyName", value: account.companyName || "", maxlength: "200" }), t("companyHint")),
    field(t("language"), locale, t("languageHint")),
    message,
    h("button", { type: "submit", class: "primary", text: t("save") }),
  );
  onSubmit(form, message, async ({ companyName, locale }) => {
    const payload = (await gql(UPDATE, { input: { companyName: companyName.trim(), locale } })).updateAccount;
    const error = firstError(payload);
    if (error) return message.fail(error);
    // The client speaks the account's language from now on too.
    ctx.useLanguage(payload.account.locale.toLowerCase());
    updated(payload.account, t("saved"));
  });
  return card(t("profileTitle"), form);
}

function billingCard(account, updated) {
  const message = messageArea();
  const state = account.billingContactVerified ? t("billingVerified") : t("billingUnverified");
  const form = h(
    "form",
    { class: "stack", "data-testid": "billing-contact" },
    field(
      t("billingContact"),
      h("input", { type: "email", name: "billingContactEmail", required: true, value: account.billingContactEmail }),
      t("billingContactHint"),
    ),
    h("p", { class: account.billingContactVerified ? "hint" : "hint warning-text", "data-testid": "billing-state", text: state }),
    message,
    h("button", { type: "submit", class: "primary", text: t("save") }),
  );
  onSubmit(form, message, async ({ billingContactEmail }) => {
    const payload = (await gql(UPDATE, { input: { billingContactEmail } })).updateAccount;
    const error = firstError(payload);
    if (error) return message.fail(error);
    updated(payload.account, payload.account.billingContactVerified ? t("saved") : t("billingLinkSent"));
  });
  return card(t("billingTitle"), form);
}

function sessionsCard(account, updated) {
  const lang = language();
  const message = messageArea();
  const act = async (button, query, variables, pick) => {
    button.disabled = true;
    message.clear();
    try {
      const payload = pick(await gql(query, variables));
      const error = firstError(payload);
      if (error) return message.fail(error);
      updated({ ...account, sessions: payload.account.sessions }, t("sessionsEnded"));
    } catch (error) {
      message.fail(error);
    } finally {
      button.disabled = false;
    }
  };
  const items = account.sessions.map((session) => {
    const name = session.deviceLabel || session.userAgent || t("unknownDevice");
    const end = session.current
      ? h("span", { class: "badge on", text: t("thisDevice") })
      : h("button", { type: "button", class: "small", "aria-label": t("endSessionOf", { name }), text: t("endSession") });
    if (!session.current) {
      end.addEventListener("click", () => act(end, REVOKE, { input: { id: session.id } }, (data) => data.revokeSession));
    }
    const details = [
      t("lastSeen", { date: formatDate(session.lastSeenAt, lang) }),
      session.ipAddress,
      session.rememberedUntil ? t("rememberedUntil", { date: formatDate(session.rememberedUntil, lang) }) : null,
    ];
    return h(
      "li",
      { class: "authenticator", "data-testid": "session", "data-current": String(session.current) },
      h("div", { class: "authenticator-head" }, h("strong", { class: "authenticator-name", text: name }), end),
      h("p", { class: "hint", text: details.filter(Boolean).join(" · ") }),
    );
  });
  const others = h("button", { type: "button", "data-testid": "sign-out-others", text: t("signOutOthers") });
  others.addEventListener("click", () => act(others, SIGN_OUT_OTHERS, {}, (data) => data.signOutEverywhere));
  return card(
    t("sessionsTitle"),
    h("p", { class: "hint", text: t("sessionsLead") }),
    h("ul", { class: "authenticators", "data-testid": "sessions" }, items),
    message,
    account.sessions.length > 1 ? h("div", { class: "actions" }, others) : null,
  );
}

export async function settingsPage(ctx) {
  const root = h("div", { class: "stack", "data-testid": "account-page" });
  let account = (await gql(ACCOUNT)).viewer;
  function draw(note) {
    const done = messageArea();
    if (note) done.show(note, "success");
    const update = (next, text) => {
      account = next;
      draw(text);
    };
    mount(
      root,
      h("h1", { text: t("accountTitle") }),
      h("p", { class: "lead", text: account.email }),
      done,
      profileCard(ctx, account, update),
      billingCard(account, update),
      sessionsCard(account, update),
    );
  }
  draw();
  return root;
}
