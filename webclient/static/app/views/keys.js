// Security keys and passkeys on the 2FA page: the account's second factors (each can be renamed
// or removed), and adding a security key or a passkey through the browser's WebAuthn prompt.
import { firstError, gql } from "../api.js";
import { busy, h, mount, values } from "../dom.js";
import { language, t } from "../i18n.js";
import { createCredential, supported } from "../webauthn.js";
import { card, describe, field, formatDate, messageArea, passwordInput } from "./common.js";

const AUTHENTICATOR_FIELDS = "id kind name createdAt lastUsedAt passkey flaggedAt";
export const STATUS_FIELDS = `enabled enabledAt pendingSetup backupCodesRemaining backupCodesGeneratedAt method
  authenticators { ${AUTHENTICATOR_FIELDS} }`;
export const ERRORS = "errors { code field message retryAfter }";

const START = `mutation StartKey($input: StartSecurityKeyRegistrationInput!) {
  startSecurityKeyRegistration(input: $input) { registration { options expiresAt } ${ERRORS} }
}`;
const FINISH = `mutation FinishKey($input: FinishSecurityKeyRegistrationInput!) {
  finishSecurityKeyRegistration(input: $input) {
    authenticator { id }
    account { twoFactor { ${STATUS_FIELDS} } }
    backupCodes
    ${ERRORS}
  }
}`;
const RENAME = `mutation RenameAuthenticator($input: RenameAuthenticatorInput!) {
  renameAuthenticator(input: $input) { authenticator { ${AUTHENTICATOR_FIELDS} } ${ERRORS} }
}`;
const REMOVE = `mutation RemoveAuthenticator($input: RemoveAuthenticatorInput!) {
  removeAuthenticator(input: $input) { account { twoFactor { ${STATUS_FIELDS} } } ${ERRORS} }
}`;
// The server's limit on a name; the field says so before the server has to.
const NAME_LENGTH = "64";

/** What the status card calls the account's methods: the kinds of its authenticators. */
export function methodLabel(status) {
  const kinds = new Set(status.authenticators.map((item) => item.kind));
  if (!kinds.size && status.method) kinds.add(status.method);
  const labels = { TOTP: t("methodTotp"), SECURITY_KEY: t("methodSecurityKey") };
  return [...kinds].map((kind) => labels[kind] || kind).join(" · ");
}

function nameInput(value, passkey) {
  return h("input", {
    name: "name",
    required: true,
    maxlength: NAME_LENGTH,
    autocomplete: "off",
    value: value || "",
    placeholder: passkey ? t("passkeyNameExample") : t("keyNameExample"),
  });
}

/** A form of two buttons' worth: the main action and a way back. */
function actionForm(testid, children, submitText, submitClass, onCancel) {
  return h(
    "form",
    { class: "stack", "data-testid": testid },
    children,
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit", class: submitClass, text: submitText }),
      h("button", { type: "button", text: t("cancel"), onclick: onCancel }),
    ),
  );
}

/** Run `work(message)` when `form` is submitted, its buttons disabled meanwhile. */
function onSubmit(form, message, work) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(form, async () => {
      message.clear();
      try {
        await work(values(form));
      } catch (error) {
        message.fail(error);
      }
    });
  });
}

function authenticatorItem(item, changed) {
  const lang = language();
  const kind = item.kind === "TOTP" ? t("kindTotp") : t("kindSecurityKey");
  const tools = h("div", { class: "authenticator-tools" });
  const used = item.lastUsedAt
    ? t("lastUsedOn", { date: formatDate(item.lastUsedAt, lang) })
    : t("neverUsed");

  const idle = () =>
    mount(
      tools,
      h(
        "div",
        { class: "actions" },
        h("button", { type: "button", class: "small", text: t("rename"), onclick: rename }),
        h("button", { type: "button", class: "small", text: t("remove"), onclick: () => askPassword() }),
      ),
    );

  function rename() {
    const message = messageArea();
    const name = nameInput(item.name, item.passkey);
    const form = actionForm("rename", [field(t("keyName"), name), message], t("save"), "primary", idle);
    onSubmit(form, message, async ({ name }) => {
      const input = { id: item.id, name: name.trim() };
      const payload = (await gql(RENAME, { input })).renameAuthenticator;
      const error = firstError(payload);
      if (error) return message.fail(error);
      changed({ renamed: payload.authenticator });
    });
    mount(tools, form);
    name.select();
  }

  /** Password first; then a second, explicit confirmation before anything changes. */
  function askPassword(error) {
    const message = messageArea();
    if (error) message.show(error);
    const form = actionForm(
      "remove",
      [field(t("passwordAgain"), passwordInput()), message],
      t("remove"),
      "primary",
      idle,
    );
    onSubmit(form, message, async ({ password }) => askConfirmation(password));
    mount(tools, form);
    form.querySelector("input").focus();
  }

  function askConfirmation(password) {
    const message = messageArea();
    const form = actionForm(
      "remove-confirm",
      [h("p", { class: "warning-text", text: t("removeConfirmText", { name: item.name }) }), message],
      t("removeConfirm"),
      "danger",
      idle,
    );
    form.classList.add("confirm-box");
    onSubmit(form, message, async () => {
      const input = { id: item.id, password, confirm: true };
      const payload = (await gql(REMOVE, { input })).removeAuthenticator;
      const error = firstError(payload);
      // The password is checked with the confirmation: a wrong one goes back a step.
      if (error && error.code === "INVALID_CREDENTIALS") return askPassword(describe(error, { password: true }));
      if (error) return message.fail(error);
      changed({ status: payload.account.twoFactor });
    });
    mount(tools, form);
  }

  idle();
  return h(
    "li",
    {
      class: item.flaggedAt ? "authenticator flagged" : "authenticator",
      "data-testid": "authenticator",
      "data-id": item.id,
      "data-kind": item.kind,
    },
    h(
      "div",
      { class: "authenticator-head" },
      h("strong", { class: "authenticator-name", text: item.name }),
      kind === item.name ? null : h("span", { class: "authenticator-kind", text: kind }),
      item.passkey ? h("span", { class: "badge passkey", "data-testid": "passkey-badge", text: t("passkey") }) : null,
    ),
    h("p", { class: "hint", text: `${t("addedOn", { date: formatDate(item.createdAt, lang) })} · ${used}` }),
    item.flaggedAt
      ? h("p", {
          class: "warning-text",
          "data-testid": "flagged",
          text: t("keyFlagged", { date: formatDate(item.flaggedAt, lang) }),
        })
      : null,
    tools,
  );
}

/**
 * The account's second factors, oldest first. `changed` hears `{ renamed: authenticator }` or
 * `{ status }` (after a removal).
 */
export function authenticatorsCard(status, changed) {
  return card(
    t("authenticatorsTitle"),
    h(
      "ul",
      { class: "authenticators", "data-testid": "authenticators" },
      status.authenticators.map((item) => authenticatorItem(item, changed)),
    ),
  );
}

/**
 * "Add a security key" and "Add a passkey": the password and a name, then the browser's prompt.
 * `added({ status, backupCodes })` once the server has the new key; `ceremony(on)` says when the
 * browser's prompt is open (the page then leaves itself alone).
 */
export function addKeyCard(added, ceremony) {
  if (!supported()) return card(t("addKeyTitle"), h("p", { class: "hint", text: t("keysUnsupported") }));
  const body = h("div", { class: "stack" });

  const choose = () =>
    mount(
      body,
      h("p", { text: t("addKeyLead") }),
      h(
        "div",
        { class: "actions" },
        h("button", { type: "button", "data-testid": "add-security-key", text: t("addSecurityKey"), onclick: () => ask(false) }),
        h("button", { type: "button", "data-testid": "add-passkey", text: t("addPasskey"), onclick: () => ask(true) }),
      ),
    );

  function ask(passkey) {
    const message = messageArea();
    const name = nameInput("", passkey);
    const form = actionForm(
      passkey ? "new-passkey" : "new-security-key",
      [
        h("p", { class: "lead", text: passkey ? t("passkeyLead") : t("securityKeyLead") }),
        field(t("keyName"), name, t("keyNameHint")),
        field(t("passwordAgain"), passwordInput()),
        message,
      ],
      passkey ? t("createPasskey") : t("registerKey"),
      "primary",
      choose,
    );
    onSubmit(form, message, async ({ password, name }) => {
      const started = (await gql(START, { input: { password, passkey } })).startSecurityKeyRegistration;
      const error = firstError(started);
      if (error) return message.fail(error);
      message.show(passkey ? t("passkeyPrompt") : t("keyPrompt"), "info");
      ceremony(true);
      let answer;
      try {
        answer = await createCredential(started.registration.options);
      } finally {
        ceremony(false);
      }
      if (answer.refused) return message.show(answer.refused, "info");
      const input = { credential: answer.credential, name: name.trim() };
      const payload = (await gql(FINISH, { input })).finishSecurityKeyRegistration;
      const refused = firstError(payload);
      if (refused) return message.fail(refused);
      added({ status: payload.account.twoFactor, backupCodes: payload.backupCodes });
    });
    mount(body, form);
    name.focus();
  }

  choose();
  return card(t("addKeyTitle"), body);
}
