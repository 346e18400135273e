// The 2FA page: status, the account's second factors (security keys and passkeys: see keys.js),
// turning the authenticator app on (QR code, the key to keep, the first code), the backup codes
// shown once (copy, download), new codes, and turning 2FA off (password, then confirm).
import { firstError, gql } from "../api.js";
import { busy, h, mount, values } from "../dom.js";
import { language, t } from "../i18n.js";
import { card, field, formatDate, messageArea, passwordForm } from "./common.js";
import { ERRORS, STATUS_FIELDS, addKeyCard, authenticatorsCard, methodLabel } from "./keys.js";

const STATUS = `query Status { twoFactorStatus { ${STATUS_FIELDS} } }`;
const START = `mutation Start($input: StartTwoFactorInput!) {
  startTwoFactor(input: $input) {
    setup { secret otpauthUri qrCodeDataUri issuer accountName digits period expiresAt }
    ${ERRORS}
  }
}`;
const CONFIRM = `mutation Confirm($input: ConfirmTwoFactorInput!) {
  confirmTwoFactor(input: $input) { status { ${STATUS_FIELDS} } backupCodes ${ERRORS} }
}`;
const CANCEL = `mutation Cancel { cancelTwoFactorSetup { status { ${STATUS_FIELDS} } ${ERRORS} } }`;
const REGENERATE = `mutation Regenerate($input: RegenerateBackupCodesInput!) {
  regenerateBackupCodes(input: $input) { status { ${STATUS_FIELDS} } backupCodes ${ERRORS} }
}`;
const DISABLE = `mutation Disable($input: DisableTwoFactorInput!) {
  disableTwoFactor(input: $input) { status { ${STATUS_FIELDS} } ${ERRORS} }
}`;

function statusCard(status) {
  const lang = language();
  const rows = status.enabled
    ? [
        [t("state"), h("strong", { class: "badge on", text: t("on") })],
        [t("enabledSince"), formatDate(status.enabledAt, lang)],
        [t("method"), methodLabel(status)],
        [t("backupCodesLeft"), String(status.backupCodesRemaining)],
        [t("backupCodesMade"), formatDate(status.backupCodesGeneratedAt, lang)],
      ]
    : [[t("state"), h("strong", { class: "badge off", text: t("off") })]];
  return h(
    "dl",
    { class: "status", "data-testid": "status", "data-enabled": String(status.enabled) },
    rows.map(([term, value]) => [h("dt", { text: term }), h("dd", {}, value)]),
  );
}

function backupCodesView(codes, done) {
  const text = `${t("backupCodesFileHeader")}\n\n${codes.join("\n")}\n`;
  const copied = messageArea();
  const copy = h("button", {
    type: "button",
    text: t("copy"),
    onclick: async () => {
      try {
        await navigator.clipboard.writeText(codes.join("\n"));
        copied.show(t("copied"), "success");
      } catch {
        copied.show(t("copyFailed"));
      }
    },
  });
  const download = h("button", {
    type: "button",
    text: t("download"),
    onclick: () => {
      const url = URL.createObjectURL(new Blob([text], { type: "text/plain" }));
      const link = h("a", { href: url, download: "verrou-backup-codes.txt" });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 0);
    },
  });
  return card(
    t("backupCodesTitle"),
    h("p", { class: "lead", text: t("backupCodesLead") }),
    h("ol", { class: "codes", "data-testid": "backup-codes" }, codes.map((code) => h("li", {}, h("code", { text: code })))),
    h("div", { class: "actions" }, copy, download),
    copied,
    h("p", {}, h("button", { type: "button", class: "primary", text: t("savedThem"), onclick: done })),
  );
}

function setupView(setup, onConfirmed, onCancelled) {
  const message = messageArea();
  const code = h("input", {
    name: "code",
    required: true,
    inputmode: "numeric",
    autocomplete: "one-time-code",
    pattern: "[0-9 ]{6,7}",
    maxlength: "7",
  });
  const form = h(
    "form",
    { class: "stack", "data-testid": "confirm" },
    field(t("appCode"), code, t("appCodeHint")),
    message,
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit", class: "primary", text: t("turnOn") }),
      h("button", { type: "button", text: t("cancel"), onclick: () => cancel() }),
    ),
  );
  async function cancel() {
    await busy(form, async () => {
      try {
        await gql(CANCEL);
        onCancelled();
      } catch (error) {
        message.fail(error);
      }
    });
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(form, async () => {
      message.clear();
      try {
        const payload = (await gql(CONFIRM, { input: { code: values(form).code } })).confirmTwoFactor;
        const error = firstError(payload);
        if (error) return message.fail(error);
        onConfirmed(payload.backupCodes);
      } catch (error) {
        message.fail(error);
      }
    });
  });
  // The key in groups of four, as authenticator apps show it.
  const key = setup.secret.replace(/(.{4})(?=.)/g, "$1 ");
  // A phone cannot scan its own screen: the otpauth:// link opens the authenticator app, and
  // the key can be copied into it.
  const copied = messageArea();
  const copyKey = h("button", {
    type: "button",
    class: "small",
    "data-testid": "copy-secret",
    text: t("copyKey"),
    onclick: async () => {
      try {
        await navigator.clipboard.writeText(setup.secret);
        copied.show(t("keyCopied"), "success");
      } catch {
        copied.show(t("copyFailed"));
      }
    },
  });
  return card(
    t("setupTitle"),
    h(
      "ol",
      { class: "steps" },
      h(
        "li",
        {},
        t("setupStepScan"),
        h("div", { class: "qr" }, h("img", { src: setup.qrCodeDataUri, alt: t("qrAlt"), width: "220", height: "220" })),
        h("p", { class: "on-phone" }, h("a", { href: setup.otpauthUri, class: "button", "data-testid": "otpauth-link", text: t("openInApp") })),
      ),
      h(
        "li",
        {},
        t("setupStepKey"),
        h(
          "p",
          { class: "key" },
          h("code", { "data-testid": "secret", "data-secret": setup.secret, text: key }),
          " ",
          copyKey,
        ),
        copied,
        h("p", { class: "hint", text: t("setupKeyHint", { issuer: setup.issuer, account: setup.accountName }) }),
      ),
      h("li", {}, t("setupStepCode"), form),
    ),
  );
}

export async function page(ctx) {
  const root = h("div", { class: "stack", "data-testid": "security-page" });
  const state = {
    status: (await gql(STATUS)).twoFactorStatus,
    screen: "status",
    setup: null,
    codes: null,
    // The browser's key prompt is open: a redraw would drop the form waiting for its answer.
    ceremony: false,
  };

  function show(screen, extra = {}) {
    Object.assign(state, { screen }, extra);
    draw();
  }

  function draw() {
    const { status } = state;
    const header = h("h1", { text: t("securityTitle") });
    if (state.screen === "setup") {
      return mount(root, header, setupView(
        state.setup,
        // No codes when keys had already turned 2FA on: the existing ones stay valid.
        (codes) => (codes ? show("codes", { codes, setup: null }) : refresh().then(() => show("status", { setup: null }))),
        () => show("status", { setup: null, status: { ...status, pendingSetup: false } }),
      ));
    }
    if (state.screen === "codes") {
      return mount(root, header, backupCodesView(state.codes, () => refresh().then(() => show("status", { codes: null }))));
    }
    const sections = [card(t("statusTitle"), statusCard(status))];
    if (status.authenticators.length) sections.push(authenticatorsCard(status, changed));
    const keysCard = addKeyCard(keyAdded, (on) => (state.ceremony = on));
    // Off: the app first, as before keys existed. On: keys next to the list of factors.
    if (status.enabled) sections.push(keysCard);
    // The app is offered while the account has none: 2FA off, or on through keys only.
    if (!status.enabled || status.method === "SECURITY_KEY") {
      sections.push(
        card(
          status.enabled ? t("addAppTitle") : t("enableTitle"),
          h("p", { text: status.enabled ? t("addAppLead") : t("enableLead") }),
          passwordForm(t("passwordAgain"), status.enabled ? t("addAppButton") : t("enableButton"), async (password, message) => {
            const payload = (await gql(START, { input: { password } })).startTwoFactor;
            const error = firstError(payload);
            if (error) return message.fail(error);
            show("setup", { setup: payload.setup });
          }, "start"),
        ),
      );
    }
    if (!status.enabled) sections.push(keysCard);
    if (status.enabled) {
      sections.push(
        card(
          t("regenerateTitle"),
          h("p", { text: t("regenerateLead") }),
          passwordForm(t("passwordAgain"), t("regenerateButton"), async (password, message) => {
            const payload = (await gql(REGENERATE, { input: { password } })).regenerateBackupCodes;
            const error = firstError(payload);
            if (error) return message.fail(error);
            show("codes", { codes: payload.backupCodes, status: payload.status });
          }, "regenerate"),
        ),
        disableCard(),
      );
    }
    mount(root, header, sections);
  }

  /** A key or passkey was added: its backup codes first when it turned 2FA on. */
  function keyAdded({ status, backupCodes }) {
    if (backupCodes) show("codes", { codes: backupCodes, status });
    else show("status", { status });
  }

  function changed({ renamed, status }) {
    if (renamed) {
      const authenticators = state.status.authenticators.map((item) => (item.id === renamed.id ? renamed : item));
      return show("status", { status: { ...state.status, authenticators } });
    }
    show("status", { status });
  }

  /** Password first; then a second, explicit confirmation before anything changes. */
  function disableCard() {
    const body = h("div", { class: "stack" });
    const askPassword = (error) =>
      mount(
        body,
        h("p", { text: t("disableLead") }),
        passwordForm(t("passwordAgain"), t("disableButton"), async (password) => {
          askConfirmation(password);
        }, "disable", error),
      );
    const askConfirmation = (password) => {
      const message = messageArea();
      const form = h(
        "form",
        { class: "stack confirm-box", "data-testid": "disable-confirm" },
        h("p", { class: "warning-text", text: t("disableConfirmText") }),
        message,
        h(
          "div",
          { class: "actions" },
          h("button", { type: "submit", class: "danger", text: t("continue") }),
          h("button", { type: "button", text: t("cancel"), onclick: () => askPassword() }),
        ),
      );
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        busy(form, async () => {
          try {
            const payload = (await gql(DISABLE, { input: { password, confirm: true } })).disableTwoFactor;
            const error = firstError(payload);
            // The password is checked with the confirmation: a wrong one goes back a step.
            if (error && error.code === "INVALID_CREDENTIALS") return askPassword(error);
            if (error) return message.fail(error);
            show("status", { status: payload.status });
          } catch (error) {
            message.fail(error);
          }
        });
      });
      mount(body, form);
    };
    askPassword();
    return card(t("disableTitle"), body);
  }

  async function refresh() {
    state.status = (await gql(STATUS)).twoFactorStatus;
  }

  // A change made elsewhere (another tab, support) shows at once, unless the person is in the
  // middle of a setup or looking at codes shown only once.
  ctx.onNotification(async () => {
    if (state.screen !== "status" || state.ceremony) return;
    await refresh();
    if (state.screen === "status" && !state.ceremony) draw();
  });
  ctx.keep = () => state.screen !== "status" || state.ceremony;
  draw();
  return root;
}
