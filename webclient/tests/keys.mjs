// Security keys and passkeys in the reference web client, in headless Chromium with its virtual
// authenticators (DevTools' WebAuthn domain): a USB security key and a passkey of the device.
// Registering both, renaming, signing in with the key at the challenge and with the passkey
// alone, a cancelled prompt, a remembered browser, removing the key, a cloned passkey refused
// and flagged, a browser without WebAuthn; screenshots of each new screen at 1280 and 375 px,
// in English and French.
//
//   node webclient/tests/keys.mjs BASE_URL (http://localhost:PORT: WebAuthn wants a host name),
//   input on stdin: {"customer": {"email", "password"}, "artifacts"}
import { ask, readInput, run } from "./browser.mjs";

const baseUrl = process.argv[2];
const input = await readInput();
const { customer } = input;

function check(condition, message) {
  if (!condition) throw new Error(message);
}

/** The two authenticators of the person: a key on USB, and the device's own (passkeys). */
async function authenticators(page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const add = async (transport) =>
    (
      await cdp.send("WebAuthn.addVirtualAuthenticator", {
        options: {
          protocol: "ctap2",
          transport,
          hasResidentKey: true,
          hasUserVerification: true,
          isUserVerified: true,
          automaticPresenceSimulation: false,
        },
      })
    ).authenticatorId;
  const usbKey = await add("usb");
  const device = await add("internal");
  const all = [usbKey, device];
  return {
    usbKey,
    device,
    /** Only `which` answers the next prompt (the person touches it); none when null. */
    async touch(which) {
      for (const id of all) {
        await cdp.send("WebAuthn.setAutomaticPresenceSimulation", {
          authenticatorId: id,
          enabled: id === which,
        });
      }
    },
    async credentials(which) {
      return (await cdp.send("WebAuthn.getCredentials", { authenticatorId: which })).credentials;
    },
    /** The same private keys with their signature counters back at 0: a cloned authenticator. */
    async rewindCounter(which) {
      for (const credential of await this.credentials(which)) {
        await cdp.send("WebAuthn.removeCredential", { authenticatorId: which, credentialId: credential.credentialId });
        await cdp.send("WebAuthn.addCredential", { authenticatorId: which, credential: { ...credential, signCount: 0 } });
      }
    },
  };
}

async function bannerSays(page, text) {
  await page.getByTestId("banner").filter({ hasText: text }).first().waitFor();
}

async function signIn(page, password = customer.password) {
  const form = page.getByTestId("sign-in");
  await form.waitFor();
  await form.getByLabel(/^(Email address|Adresse e-mail)$/).fill(customer.email);
  await form.getByLabel(/^(Password|Mot de passe)$/).fill(password);
  await form.getByRole("button", { name: /^(Sign in|Se connecter)$/ }).click();
}

async function signOut(page) {
  await page.getByTestId("sign-out").click();
  await page.getByTestId("sign-in").waitFor();
}

const item = (page, name) => page.getByTestId("authenticator").filter({ hasText: name });

async function listed(page) {
  await page.getByTestId("authenticators").waitFor();
  return page.getByTestId("authenticator").locator(".authenticator-name").allTextContents();
}

/** "Add a security key" or "Add a passkey": the name, the password, then the prompt. */
async function addKey(page, { passkey, name, screenshot }) {
  await page.getByTestId(passkey ? "add-passkey" : "add-security-key").click();
  const form = page.getByTestId(passkey ? "new-passkey" : "new-security-key");
  await form.getByLabel("Name").fill(name);
  await form.getByLabel(/password/i).fill(customer.password);
  if (screenshot) await screenshot(passkey ? "add-passkey-form" : "add-security-key-form");
  await form.getByRole("button", { name: passkey ? "Create the passkey" : "Register the key" }).click();
}

async function language(page, lang) {
  await page.getByRole("button", { name: lang.toUpperCase(), exact: true }).click();
  await page.locator(`html[lang=${lang}]`).waitFor();
}

await run(baseUrl, { artifacts: input.artifacts }, async ({ page, screenshot }) => {
  await page.goto(`${baseUrl}/`);
  await page.getByTestId("sign-in").waitFor();
  const keys = await authenticators(page);

  // 2FA off: signed in with the password alone.
  await signIn(page);
  await page.locator("[data-testid=status][data-enabled=false]").waitFor();
  await screenshot("security-keys-off");
  await ask({ subscribers: 1 });

  // A security key turns 2FA on: its ten backup codes are shown once, as after the app.
  await keys.touch(keys.usbKey);
  await addKey(page, { passkey: false, name: "YubiKey 5C", screenshot });
  await page.getByTestId("backup-codes").waitFor();
  const codes = await page.getByTestId("backup-codes").locator("code").allTextContents();
  check(codes.length === 10 && new Set(codes).size === 10, `expected 10 backup codes, got ${codes}`);
  await screenshot("security-key-backup-codes");
  await bannerSays(page, "Two-factor authentication is now on");
  await page.getByRole("button", { name: "I have saved my codes" }).click();
  await page.locator("[data-testid=status][data-enabled=true]").waitFor();
  check((await keys.credentials(keys.usbKey)).length === 1, "the USB key holds no credential");
  check(
    (await page.getByTestId("status").textContent()).includes("Security key or passkey"),
    "the method is not the security key",
  );
  check((await listed(page)).join() === "YubiKey 5C", `listed: ${await listed(page)}`);

  // A passkey of the device, the key left alone (it holds a credential the server excludes).
  await keys.touch(keys.device);
  await addKey(page, { passkey: true, name: "Laptop" });
  await item(page, "Laptop").waitFor();
  await bannerSays(page, "Laptop");
  check((await listed(page)).join() === "YubiKey 5C,Laptop", `listed: ${await listed(page)}`);
  const passkeys = await keys.credentials(keys.device);
  check(passkeys.length === 1 && passkeys[0].isResidentCredential, "the passkey is not discoverable");
  check((await item(page, "Laptop").getByTestId("passkey-badge").count()) === 1, "no passkey badge");
  check((await item(page, "YubiKey 5C").getByTestId("passkey-badge").count()) === 0, "a badge too many");
  check((await page.getByTestId("backup-codes").count()) === 0, "backup codes shown a second time");
  // On through keys only, the authenticator app is still offered.
  await page.getByTestId("start").waitFor();

  // Renaming, inline.
  await item(page, "Laptop").getByRole("button", { name: "Rename" }).click();
  const rename = page.getByTestId("rename");
  await rename.getByLabel("Name").fill("Work laptop");
  await screenshot("rename-inline");
  await rename.getByRole("button", { name: "Save" }).click();
  await item(page, "Work laptop").waitFor();

  // The authenticator app on top of the keys: no new backup codes (the first ones stay).
  const start = page.getByTestId("start");
  await start.getByLabel(/password/i).fill(customer.password);
  await start.getByRole("button", { name: "Add the app" }).click();
  const secret = await page.getByTestId("secret").getAttribute("data-secret");
  const confirm = page.getByTestId("confirm");
  await confirm.getByLabel("Code from the app").fill((await ask({ totp: secret })).code);
  await confirm.getByRole("button", { name: "Turn on two-factor authentication" }).click();
  await item(page, "Authenticator app").waitFor();
  check((await page.getByTestId("backup-codes").count()) === 0, "new backup codes for the app");
  check((await page.getByTestId("start").count()) === 0, "the app still offered");
  const method = await page.getByTestId("status").textContent();
  check(method.includes("Authenticator app (TOTP)") && method.includes("Security key"), method);
  await screenshot("security-keys-listed");
  await language(page, "fr");
  await page.getByRole("heading", { name: "Vos facteurs d’authentification" }).waitFor();
  await screenshot("security-keys-listed-fr");
  await language(page, "en");

  // The password then the key at the challenge; a prompt nobody answers is cancelled calmly.
  await signOut(page);
  await screenshot("sign-in-with-passkey-button");
  await signIn(page);
  const challenge = page.getByTestId("second-factor");
  await challenge.waitFor();
  await screenshot("challenge-with-security-key");
  await language(page, "fr");
  await challenge.getByTestId("use-security-key").filter({ hasText: "Utiliser votre clé de sécurité" }).waitFor();
  await screenshot("challenge-with-security-key-fr");
  await language(page, "en");
  await keys.touch(null);
  await challenge.getByTestId("use-security-key").click();
  await page.locator("[data-testid=second-factor][aria-busy=true]").waitFor();
  // What a "Cancel" in the browser's dialog does to the page's request.
  await page.evaluate(async () => {
    const { WebAuthnAbortService } = await import("/static/vendor/simplewebauthn/index.js");
    WebAuthnAbortService.cancelCeremony();
  });
  await challenge.locator(".message.info", { hasText: "cancelled or timed out" }).waitFor();
  check((await challenge.locator(".message.error").count()) === 0, "a cancel shown as an error");
  await screenshot("challenge-key-cancelled");
  await keys.touch(keys.usbKey);
  await challenge.getByTestId("remember-device").check();
  await challenge.getByTestId("use-security-key").click();
  await page.getByTestId("security-page").waitFor();
  check(
    (await item(page, "YubiKey 5C").textContent()).includes("last used on"),
    "the key's use is not shown",
  );
  check((await item(page, "Work laptop").textContent()).includes("never used"), "passkey used?");

  // A passkey alone: no email, no password.
  await signOut(page);
  await keys.touch(keys.device);
  await page.getByTestId("passkey-sign-in").getByRole("button", { name: "Sign in with a passkey" }).click();
  await page.getByTestId("security-page").waitFor();
  check((await item(page, "Work laptop").textContent()).includes("last used on"), "passkey unused");

  // The browser remembered at the challenge skips the second factor (the password is asked).
  await signOut(page);
  await signIn(page);
  await page.getByTestId("security-page").waitFor();
  await ask({ subscribers: 1 });

  // Removing the key: the password (a wrong one goes back a step), then the confirmation.
  const yubikey = item(page, "YubiKey 5C");
  await yubikey.getByRole("button", { name: "Remove" }).click();
  await yubikey.getByTestId("remove").getByLabel(/password/i).fill("not the password at all");
  await yubikey.getByTestId("remove").getByRole("button", { name: "Remove" }).click();
  await yubikey.getByTestId("remove-confirm").getByRole("button", { name: "Yes, remove it" }).click();
  await yubikey.getByTestId("remove").locator(".message.error").waitFor();
  await yubikey.getByTestId("remove").getByLabel(/password/i).fill(customer.password);
  await yubikey.getByTestId("remove").getByRole("button", { name: "Remove" }).click();
  await yubikey.getByTestId("remove-confirm").waitFor();
  await screenshot("remove-key-confirmation");
  await yubikey.getByTestId("remove-confirm").getByRole("button", { name: "Yes, remove it" }).click();
  await yubikey.waitFor({ state: "detached" });
  check((await listed(page)).join() === "Work laptop,Authenticator app", `listed: ${await listed(page)}`);
  await page.locator("[data-testid=status][data-enabled=true]").waitFor();

  // A copy of the passkey (its signature counter behind the server's) is refused and flagged.
  await signOut(page);
  await keys.rewindCounter(keys.device);
  await keys.touch(keys.device);
  const passkeySignIn = page.getByTestId("passkey-sign-in");
  await passkeySignIn.getByRole("button", { name: "Sign in with a passkey" }).click();
  await passkeySignIn.locator(".message.error").waitFor();
  await screenshot("passkey-copy-refused");
  // The password then (the browser is still remembered: removing one key leaves 2FA on).
  await signIn(page);
  await page.getByTestId("security-page").waitFor();
  await item(page, "Work laptop").getByTestId("flagged").waitFor();
  await screenshot("flagged-passkey");
  await language(page, "fr");
  await item(page, "Work laptop").getByTestId("flagged").filter({ hasText: "bloquée" }).waitFor();
  await screenshot("flagged-passkey-fr");

  // The history names each key event in words.
  await language(page, "en");
  await page.getByRole("link", { name: /^Activity/ }).click();
  const history = page.getByTestId("security-events");
  await history.locator(".item").first().waitFor();
  const more = page.locator("section", { has: history }).getByRole("button", { name: "More" });
  while (await more.isVisible()) {
    const before = await history.locator(".item").count();
    await more.click();
    await page.waitForFunction(
      ([list, count]) => document.querySelector(`[data-testid=${list}]`).querySelectorAll(".item").length > count,
      ["security-events", before],
    );
  }
  for (const kind of ["AUTHENTICATOR_ADDED", "SECURITY_KEY_USED", "AUTHENTICATOR_REMOVED", "SECURITY_KEY_FLAGGED"]) {
    await history.locator(`[data-kind=${kind}]`).first().waitFor();
  }
  await history.getByText("Key blocked: its signature counter went backwards").waitFor();
  check(!(await history.textContent()).includes("event."), "an event kind without its text");
  await screenshot("activity-key-events");

  // The sign-in page in French.
  await signOut(page);
  await language(page, "fr");
  await page.getByRole("button", { name: "Se connecter avec une passkey" }).waitFor();
  await screenshot("sign-in-with-passkey-button-fr");

  // A browser without WebAuthn offers no key buttons, and says why on the 2FA page.
  await page.addInitScript(() => delete window.PublicKeyCredential);
  await page.reload();
  await page.getByTestId("sign-in").waitFor();
  check((await page.getByTestId("passkey-sign-in").count()) === 0, "a passkey button without WebAuthn");
  await signIn(page);
  await page.getByText("Ce navigateur ne prend pas en charge les clés de sécurité ni les passkeys.").waitFor();
  check((await page.getByTestId("add-security-key").count()) === 0, "an add button without WebAuthn");
  await screenshot("no-webauthn-fr");
});
