// Security keys and passkeys through the browser's WebAuthn API. @simplewebauthn/browser turns
// the server's options (WebAuthn JSON) into navigator.credentials calls and the browser's answer
// back into JSON, which the API takes as it is.
import {
  browserSupportsWebAuthn,
  startAuthentication,
  startRegistration,
} from "/static/vendor/simplewebauthn/index.js";
import { t } from "./i18n.js";

/** Whether this browser can use security keys and passkeys at all. */
export function supported() {
  return browserSupportsWebAuthn();
}

/** What the browser said, as the words to show: nothing of it is sent anywhere. */
function refusal(error) {
  // NotAllowedError is the browser's answer to a cancelled or timed-out prompt (and to a key
  // the person did not touch): nothing went wrong, so nothing alarming is said.
  if (error && (error.name === "NotAllowedError" || error.name === "AbortError")) {
    return t("keyCancelled");
  }
  if (error && error.code === "ERROR_AUTHENTICATOR_PREVIOUSLY_REGISTERED") {
    return t("keyAlreadyRegistered");
  }
  return t("keyUnavailable");
}

/**
 * Run one ceremony in the browser: `{ credential }` when the key or passkey answered,
 * `{ refused: text }` when the browser or the person did not go through with it.
 */
async function ceremony(run) {
  try {
    return { credential: await run() };
  } catch (error) {
    return { refused: refusal(error) };
  }
}

/** navigator.credentials.create() with the options of startSecurityKeyRegistration. */
export function createCredential(optionsJSON) {
  return ceremony(() => startRegistration({ optionsJSON }));
}

/** navigator.credentials.get() with the options of a challenge or a passkey sign-in. */
export function getAssertion(optionsJSON) {
  return ceremony(() => startAuthentication({ optionsJSON }));
}
