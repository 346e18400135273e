// Signing in: email and password, then the second factor when the account has 2FA, and the
// lost-device path (a recovery request with identity documents) from there.
import { firstError, gql, gqlUpload } from "../api.js";
import { busy, h, values } from "../dom.js";
import { t } from "../i18n.js";
import { card, describe, field, messageArea, passwordInput } from "./common.js";

const SIGN_IN = `mutation SignIn($input: SignInInput!) {
  signIn(input: $input) {
    session { token }
    challenge { token expiresAt methods }
    errors { code field message retryAfter }
  }
}`;

const VERIFY = `mutation Verify($input: VerifySignInInput!) {
  verifySignIn(input: $input) {
    session { token }
    usedBackupCode
    backupCodesRemaining
    errors { code field message retryAfter }
  }
}`;

const REQUEST_RECOVERY = `mutation RequestRecovery($input: RequestTwoFactorRecoveryInput!) {
  requestTwoFactorRecovery(input: $input) {
    request { id status createdAt }
    errors { code field message retryAfter }
  }
}`;

// The challenge of the sign-in under way; gone with the tab (and useless after ~5 minutes).
let challenge = null;
let sentRequest = null;

export function signInPage(ctx) {
  const message = messageArea();
  const form = h(
    "form",
    { class: "stack", "data-testid": "sign-in" },
    field(t("email"), h("input", { type: "email", name: "email", required: true, autocomplete: "username" })),
    field(t("password"), passwordInput()),
    message,
    h("button", { type: "submit", class: "primary", text: t("signIn") }),
    h("p", { class: "aside" }, h("a", { href: "#/signin/forgot", "data-testid": "forgot-link", text: t("forgotLink") })),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(form, async () => {
      message.clear();
      try {
        const { email, password } = values(form);
        const payload = (await gql(SIGN_IN, { input: { email, password } })).signIn;
        const error = firstError(payload);
        if (error) return message.show(describe(error));
        if (payload.session) return ctx.signedIn(payload.session.token);
        challenge = { ...payload.challenge, email };
        ctx.go("#/signin/code");
      } catch (error) {
        message.show(describe(error));
      }
    });
  });
  return card(t("signInTitle"), h("p", { class: "lead", text: t("signInLead") }), form);
}

export function codePage(ctx) {
  if (!challenge) return ctx.go("#/signin");
  const message = messageArea();
  const input = h("input", {
    name: "code",
    required: true,
    autocomplete: "one-time-code",
    inputmode: "text",
    spellcheck: "false",
    maxlength: "32",
  });
  const form = h(
    "form",
    { class: "stack", "data-testid": "second-factor" },
    field(t("codeLabel"), input, t("codeHint")),
    message,
    h("button", { type: "submit", class: "primary", text: t("verify") }),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(form, async () => {
      message.clear();
      try {
        const input = { challengeToken: challenge.token, code: values(form).code };
        const payload = (await gql(VERIFY, { input })).verifySignIn;
        const error = firstError(payload);
        if (error && error.code === "CHALLENGE_EXPIRED") {
          challenge = null;
          ctx.flash(describe(error), "warning");
          return ctx.go("#/signin");
        }
        if (error) return message.show(describe(error));
        challenge = null;
        if (payload.usedBackupCode) {
          ctx.flash(t("backupCodeUsed", { count: payload.backupCodesRemaining }), "info");
        }
        ctx.signedIn(payload.session.token);
      } catch (error) {
        message.show(describe(error));
      }
    });
  });
  queueMicrotask(() => input.focus());
  return card(
    t("secondFactorTitle"),
    h("p", { class: "lead", text: challenge.email ? t("secondFactorLead", { email: challenge.email }) : t("secondFactorAfterReset") }),
    form,
    h("p", { class: "aside" }, h("a", { href: "#/signin/lost-device", text: t("lostDeviceLink") })),
  );
}

export function recoveryPage(ctx) {
  if (!challenge) return ctx.go("#/signin");
  const message = messageArea();
  const identity = h("input", { type: "file", name: "identityDocument", required: true, accept: ".pdf,.jpg,.jpeg,.png,application/pdf,image/jpeg,image/png" });
  const registration = h("input", { type: "file", name: "companyRegistration", accept: ".pdf,.jpg,.jpeg,.png,application/pdf,image/jpeg,image/png" });
  const form = h(
    "form",
    { class: "stack", "data-testid": "recovery" },
    field(t("identityDocument"), identity, t("documentHint")),
    field(t("companyRegistration"), registration, t("companyRegistrationHint")),
    field(t("messageToSupport"), h("textarea", { name: "message", rows: "3", maxlength: "2000" })),
    message,
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit", class: "primary", text: t("sendRequest") }),
      h("a", { href: "#/signin/code", class: "button", text: t("back") }),
    ),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(form, async () => {
      message.clear();
      try {
        const text = values(form).message.trim();
        const variables = {
          input: {
            challengeToken: challenge.token,
            message: text || null,
            identityDocument: null,
            companyRegistration: registration.files[0] ? null : undefined,
          },
        };
        const payload = (
          await gqlUpload(REQUEST_RECOVERY, variables, {
            "input.identityDocument": identity.files[0],
            "input.companyRegistration": registration.files[0],
          })
        ).requestTwoFactorRecovery;
        const error = firstError(payload);
        if (error && error.code === "CHALLENGE_EXPIRED") {
          challenge = null;
          ctx.flash(describe(error), "warning");
          return ctx.go("#/signin");
        }
        if (error) return message.show(describe(error));
        challenge = null;
        sentRequest = payload.request;
        ctx.go("#/signin/recovery-sent");
      } catch (error) {
        message.show(describe(error));
      }
    });
  });
  return card(t("recoveryTitle"), h("p", { class: "lead", text: t("recoveryLead") }), form);
}

export function recoverySentPage(ctx) {
  if (!sentRequest) return ctx.go("#/signin");
  return card(
    t("recoverySentTitle"),
    h("p", { class: "lead", "data-testid": "recovery-sent", text: t("recoverySentLead") }),
    h("p", {}, h("a", { href: "#/signin", class: "button", text: t("backToSignIn") })),
  );
}

/** A challenge from another flow (a password reset): on to the code page, as after signIn. */
export function continueWithChallenge(ctx, next) {
  challenge = { ...next, email: "" };
  ctx.go("#/signin/code");
}
