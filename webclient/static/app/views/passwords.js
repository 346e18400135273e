// Forgotten password (a request form, then the emailed #/reset-password?token= link) and the
// "this wasn't me" link of security emails (#/secure-account?token=). A reset never skips the
// second factor: with 2FA on, it goes on to the sign-in's code page.
import { firstError, gql } from "../api.js";
import { busy, h, values } from "../dom.js";
import { t } from "../i18n.js";
import { card, field, messageArea } from "./common.js";
import { continueWithChallenge } from "./signin.js";

const REQUEST_RESET = `mutation RequestReset($input: RequestPasswordResetInput!) {
  requestPasswordReset(input: $input) { errors { code field message retryAfter } }
}`;

const RESET = `mutation Reset($input: ResetPasswordInput!) {
  resetPassword(input: $input) {
    session { token }
    challenge { token expiresAt methods securityKeyOptions }
    errors { code field message retryAfter }
  }
}`;

const SECURE = `mutation Secure($input: SecureAccountInput!) {
  secureAccount(input: $input) { errors { code field message } }
}`;

function tokenOf(ctx) {
  return new URLSearchParams(ctx.query).get("token") || "";
}

function newPasswordInput() {
  return h("input", { type: "password", name: "newPassword", required: true, minlength: "12", autocomplete: "new-password" });
}

export function forgotPage() {
  const message = messageArea();
  const form = h(
    "form",
    { class: "stack", "data-testid": "forgot-password" },
    field(t("email"), h("input", { type: "email", name: "email", required: true, autocomplete: "username" })),
    message,
    h("button", { type: "submit", class: "primary", text: t("sendResetLink") }),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(form, async () => {
      message.clear();
      try {
        const payload = (await gql(REQUEST_RESET, { input: { email: values(form).email } })).requestPasswordReset;
        const error = firstError(payload);
        if (error) return message.fail(error);
        // The same words whether the address has an account or not, as the server's answer.
        message.show(t("resetLinkSent"), "success");
      } catch (error) {
        message.fail(error);
      }
    });
  });
  return card(
    t("forgotTitle"),
    h("p", { class: "lead", text: t("forgotLead") }),
    form,
    h("p", { class: "aside" }, h("a", { href: "#/signin", text: t("backToSignIn") })),
  );
}

export function resetPage(ctx) {
  const token = tokenOf(ctx);
  const message = messageArea();
  const form = h(
    "form",
    { class: "stack", "data-testid": "reset-password" },
    field(t("newPassword"), newPasswordInput(), t("newPasswordHint")),
    message,
    h("button", { type: "submit", class: "primary", text: t("setPassword") }),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(form, async () => {
      message.clear();
      try {
        const input = { token, newPassword: values(form).newPassword };
        const payload = (await gql(RESET, { input })).resetPassword;
        const error = firstError(payload);
        if (error) return message.fail(error);
        ctx.flash(t("passwordResetDone"), "success");
        if (payload.session) return ctx.signedIn(payload.session.token);
        continueWithChallenge(ctx, payload.challenge);
      } catch (error) {
        message.fail(error);
      }
    });
  });
  return card(t("resetTitle"), h("p", { class: "lead", text: t("resetLead") }), form);
}

export function securePage(ctx) {
  const token = tokenOf(ctx);
  const message = messageArea();
  const button = h("button", { type: "submit", class: "primary", "data-testid": "secure-confirm", text: t("secureConfirm") });
  const form = h("form", { class: "stack", "data-testid": "secure-account" }, message, button);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(form, async () => {
      message.clear();
      try {
        const payload = (await gql(SECURE, { input: { token } })).secureAccount;
        const error = firstError(payload);
        if (error) return message.fail(error);
        button.remove();
        message.show(t("secureDone"), "success");
      } catch (error) {
        message.fail(error);
      }
    });
  });
  return card(t("secureTitle"), h("p", { class: "lead", text: t("secureLead") }), form);
}
