// Signing in: email and password, then the second factor when the account has 2FA (a code, or
// a security key), or a passkey alone; and the lost-device path (a recovery request with
// identity documents) from the second factor's page.
import { firstError, gql, gqlUpload } from "../api.js";
import { busy, h, values } from "../dom.js";
import { t } from "../i18n.js";
import { getAssertion, supported } from "../webauthn.js";
import { card, describe, field, messageArea, passwordInput } from "./common.js";

const SIGN_IN = `mutation SignIn($input: SignInInput!) {
  signIn(input: $input) {
    session { token }
    challenge { token expiresAt methods securityKeyOptions }
    errors { code field message retryAfter }
  }
}`;

const VERIFIED = `session { token }
    usedBackupCode
    backupCodesRemaining
    deviceToken
    errors { code field message retryAfter }`;

const VERIFY = `mutation Verify($input: VerifySignInInput!) {
  verifySignIn(input: $input) { ${VERIFIED} }
}`;

const VERIFY_KEY = `mutation VerifyKey($input: VerifySignInWithSecurityKeyInput!) {
  verifySignInWithSecurityKey(input: $input) { ${VERIFIED} }
}`;

const START_PASSKEY = `mutation StartPasskey {
  startPasskeySignIn { passkeySignIn { token options expiresAt } errors { code field message retryAfter } }
}`;

const FINISH_PASSKEY = `mutation FinishPasskey($input: FinishPasskeySignInInput!) {
  finishPasskeySignIn(input: $input) { session { token } errors { code field message retryAfter } }
}`;

// A remembered browser skips the second factor: verifySignIn's deviceToken, sent with the next
// signIn. One per browser (the last account that asked); a stale one only means a code is asked.
const DEVICE_KEY = "verrou.device";

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
    h(
      "p",
      { class: "aside actions" },
      h("a", { href: "#/signin/forgot", "data-testid": "forgot-link", text: t("forgotLink") }),
      h("a", { href: "#/signup", "data-testid": "sign-up-link", text: t("signUpLink") }),
    ),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(form, async () => {
      message.clear();
      try {
        const { email, password } = values(form);
        const deviceToken = window.localStorage.getItem(DEVICE_KEY);
        const payload = (await gql(SIGN_IN, { input: { email, password, deviceToken } })).signIn;
        const error = firstError(payload);
        if (error) return message.fail(error);
        if (payload.session) return ctx.signedIn(payload.session.token);
        challenge = { ...payload.challenge, email };
        ctx.go("#/signin/code");
      } catch (error) {
        message.fail(error);
      }
    });
  });
  return card(t("signInTitle"), h("p", { class: "lead", text: t("signInLead") }), form, passkeySignIn(ctx));
}

/** "Sign in with a passkey": no email, no password; the passkey names the account. */
function passkeySignIn(ctx) {
  if (!supported()) return null;
  const message = messageArea();
  const form = h(
    "form",
    { class: "stack passkey-sign-in", "data-testid": "passkey-sign-in" },
    h("p", { class: "or", text: t("or") }),
    h("button", { type: "submit", text: t("passkeySignIn") }),
    h("p", { class: "hint", text: t("passkeySignInHint") }),
    message,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(form, async () => {
      message.clear();
      try {
        const started = (await gql(START_PASSKEY)).startPasskeySignIn;
        const error = firstError(started);
        if (error) return message.fail(error);
        const { token, options } = started.passkeySignIn;
        const answer = await getAssertion(options);
        if (answer.refused) return message.show(answer.refused, "info");
        const input = { token, credential: answer.credential };
        const payload = (await gql(FINISH_PASSKEY, { input })).finishPasskeySignIn;
        const refused = firstError(payload);
        if (refused) return message.fail(refused);
        ctx.signedIn(payload.session.token);
      } catch (error) {
        message.fail(error);
      }
    });
  });
  return form;
}

function secondFactorLead(withKey) {
  if (!challenge.email) return t("secondFactorAfterReset");
  const app = challenge.methods.includes("TOTP");
  if (withKey && app) return t("secondFactorLeadKeyOrApp", { email: challenge.email });
  if (withKey) return t("secondFactorLeadKey", { email: challenge.email });
  return t("secondFactorLead", { email: challenge.email });
}

export function codePage(ctx) {
  if (!challenge) return ctx.go("#/signin");
  const withKey = challenge.methods.includes("SECURITY_KEY") && Boolean(challenge.securityKeyOptions) && supported();
  const message = messageArea();
  const input = h("input", {
    name: "code",
    required: true,
    autocomplete: "one-time-code",
    inputmode: "text",
    spellcheck: "false",
    maxlength: "32",
  });
  const remember = h("input", { type: "checkbox", name: "rememberDevice", "data-testid": "remember-device" });
  const form = h(
    "form",
    { class: "stack", "data-testid": "second-factor" },
    // With keys only, the field takes backup codes alone.
    field(challenge.methods.includes("TOTP") ? t("codeLabel") : t("backupCodeLabel"), input, t("codeHint")),
    h("label", { class: "check" }, remember, h("span", { text: t("rememberDevice") })),
    message,
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit", class: "primary", text: t("verify") }),
      withKey
        ? h("button", { type: "button", "data-testid": "use-security-key", text: t("useSecurityKey"), onclick: () => useKey() })
        : null,
    ),
  );

  /** The answer of verifySignIn or verifySignInWithSecurityKey. */
  function verified(payload) {
    const error = firstError(payload);
    if (error && error.code === "CHALLENGE_EXPIRED") {
      challenge = null;
      ctx.flash(describe(error), "warning");
      return ctx.go("#/signin");
    }
    if (error) return message.fail(error);
    challenge = null;
    if (payload.deviceToken) window.localStorage.setItem(DEVICE_KEY, payload.deviceToken);
    if (payload.usedBackupCode) {
      ctx.flash(t("backupCodeUsed", { count: payload.backupCodesRemaining }), "info");
    }
    ctx.signedIn(payload.session.token);
  }

  function useKey() {
    busy(form, async () => {
      message.clear();
      try {
        const answer = await getAssertion(challenge.securityKeyOptions);
        if (answer.refused) return message.show(answer.refused, "info");
        const input = { challengeToken: challenge.token, credential: answer.credential, rememberDevice: remember.checked };
        verified((await gql(VERIFY_KEY, { input })).verifySignInWithSecurityKey);
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
        const input = { challengeToken: challenge.token, code: values(form).code, rememberDevice: remember.checked };
        verified((await gql(VERIFY, { input })).verifySignIn);
      } catch (error) {
        message.fail(error);
      }
    });
  });
  queueMicrotask(() => input.focus());
  return card(
    t("secondFactorTitle"),
    h("p", { class: "lead", text: secondFactorLead(withKey) }),
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
        if (error) return message.fail(error);
        challenge = null;
        sentRequest = payload.request;
        ctx.go("#/signin/recovery-sent");
      } catch (error) {
        message.fail(error);
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
