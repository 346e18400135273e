// The reference web client, the whole customer and support flow in headless Chromium, with a
// screenshot of each screen. TOTP codes come from the test (it owns the server's clock).
//
//   node webclient/tests/client.mjs BASE_URL, input on stdin:
//   {"customer": {"email", "password", "company"}, "support": {"email", "password"}, "artifacts"}
import { readFileSync } from "node:fs";
import { ask, readInput, run } from "./browser.mjs";

const baseUrl = process.argv[2];
const input = await readInput();
const { customer, support } = input;

function check(condition, message) {
  if (!condition) throw new Error(message);
}

async function signIn(page, who) {
  await page.getByTestId("sign-in").waitFor();
  await page.getByLabel(/^(Email address|Adresse e-mail)$/).fill(who.email);
  await page.getByLabel(/^(Password|Mot de passe)$/).fill(who.password);
  await page.getByRole("button", { name: /^(Sign in|Se connecter)$/ }).click();
}

/** Support staff have 2FA: the password, then the app's code. */
async function signInSupport(page) {
  await signIn(page, support);
  const code = page.getByLabel("Verification code or backup code");
  await code.fill((await ask({ supportTotp: true })).code);
  await page.getByRole("button", { name: "Verify" }).click();
}

async function signOut(page) {
  await page.getByTestId("sign-out").click();
  await page.getByTestId("sign-in").waitFor();
}

async function totpFor(page) {
  const secret = await page.getByTestId("secret").getAttribute("data-secret");
  check(/^[A-Z2-7]{16,}$/.test(secret), `no base32 key shown: ${secret}`);
  return (await ask({ totp: secret })).code;
}

async function bannerSays(page, text) {
  await page.getByTestId("banner").filter({ hasText: text }).first().waitFor();
}

async function backupCodes(page) {
  await page.getByTestId("backup-codes").waitFor();
  return page.getByTestId("backup-codes").locator("code").allTextContents();
}

/** Turn 2FA on from the security page; the backup codes shown once. */
async function enable(page, screenshot) {
  const start = page.getByTestId("start");
  await start.getByLabel(/password/i).fill(customer.password);
  await start.getByRole("button", { name: "Turn on" }).click();
  await page.getByTestId("secret").waitFor();
  await page.locator(".qr img").evaluate((img) => img.decode());
  check(
    (await page.locator(".qr img").getAttribute("src")).startsWith("data:image/png;base64,"),
    "the QR code is not an image",
  );
  if (screenshot) {
    await screenshot("enable-qr-code-and-key");
    // On a phone: a link that opens the authenticator app, and the key to copy into it.
    await page.setViewportSize({ width: 375, height: 740 });
    const link = page.getByRole("link", { name: "Open in the authenticator app" });
    await link.waitFor();
    const href = await link.getAttribute("href");
    check(href.startsWith("otpauth://totp/") && href.includes(`secret=${await page.getByTestId("secret").getAttribute("data-secret")}`), href);
    await page.getByTestId("copy-secret").click();
    await page.getByText("Key copied").waitFor();
    const pasted = await page.evaluate(() => navigator.clipboard.readText());
    check(pasted === (await page.getByTestId("secret").getAttribute("data-secret")), "the key was not copied");
    await page.setViewportSize({ width: 1280, height: 900 });
  }
  const confirm = page.getByTestId("confirm");
  await confirm.getByLabel("Code from the app").fill(await totpFor(page));
  await confirm.getByRole("button", { name: "Turn on two-factor authentication" }).click();
  return backupCodes(page);
}

/** Signed out, with 2FA on: sign in, then "lost phone" and a request with two documents. */
async function requestRecovery(page, message, screenshot) {
  await signIn(page, customer);
  await page.getByRole("link", { name: "Lost your phone and your backup codes?" }).click();
  const recovery = page.getByTestId("recovery");
  await recovery.waitFor();
  await recovery.getByLabel("Identity document").setInputFiles({
    name: "passport.pdf",
    mimeType: "application/pdf",
    buffer: Buffer.from("%PDF-1.7\n1 0 obj << /Marker (PASSPORT) >> endobj\n%%EOF\n"),
  });
  await recovery.getByLabel("Company registration extract (KBIS)").setInputFiles({
    name: "kbis.pdf",
    mimeType: "application/pdf",
    buffer: Buffer.from("%PDF-1.7\n1 0 obj << /Marker (KBIS) >> endobj\n%%EOF\n"),
  });
  await recovery.getByLabel("A word for support (optional)").fill(message);
  if (screenshot) await screenshot("lost-phone-request");
  await recovery.getByRole("button", { name: "Send the request" }).click();
  await page.getByTestId("recovery-sent").waitFor();
  if (screenshot) await screenshot("lost-phone-request-sent");
}

await run(baseUrl, { artifacts: input.artifacts, locale: "fr-FR" }, async ({ context, page, problems, screenshot }) => {
  // Signed out, any page leads to the sign-in form; the browser speaks French.
  await page.goto(`${baseUrl}/`);
  await page.getByTestId("sign-in").waitFor();
  check((await page.locator("h2").textContent()) === "Connexion à votre espace client", "not in French");
  await screenshot("sign-in-fr");

  // A wrong password: the server's message, in French.
  await page.getByLabel("Adresse e-mail").fill(customer.email);
  await page.getByLabel("Mot de passe").fill("not the password at all");
  await page.getByRole("button", { name: "Se connecter", exact: true }).click();
  await page.locator(".message.error", { hasText: "E-mail ou mot de passe incorrect." }).waitFor();
  await screenshot("sign-in-wrong-password");

  // English from here on.
  await page.getByRole("button", { name: "EN", exact: true }).click();
  await page.getByText("Sign in to your customer area").waitFor();
  check((await page.locator("html").getAttribute("lang")) === "en", "html lang not switched");
  await signIn(page, customer);

  // The 2FA page, off.
  await page.getByTestId("security-page").waitFor();
  await page.locator("[data-testid=status][data-enabled=false]").waitFor();
  await screenshot("two-factor-off");
  // The page's live subscription is open before anything it should hear about happens.
  await ask({ subscribers: 1 });

  // Turning it on: QR code and key, the first code, then ten backup codes shown once.
  const first = await enable(page, screenshot);
  check(first.length === 10 && new Set(first).size === 10, `expected 10 backup codes, got ${first}`);
  await bannerSays(page, "Two-factor authentication is now on");
  await screenshot("backup-codes-and-blue-banner");

  await page.getByRole("button", { name: "Copy" }).click();
  await page.getByText("Codes copied to the clipboard.").waitFor();
  const clipboard = await page.evaluate(() => navigator.clipboard.readText());
  check(clipboard.split("\n").join() === first.join(), "the clipboard does not hold the codes");
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.getByRole("button", { name: "Download" }).click(),
  ]);
  check(download.suggestedFilename() === "verrou-backup-codes.txt", download.suggestedFilename());
  const saved = readFileSync(await download.path(), "utf8");
  check(first.every((code) => saved.includes(code)), "the downloaded file lacks codes");

  await page.getByRole("button", { name: "I have saved my codes" }).click();
  await page.locator("[data-testid=status][data-enabled=true]").waitFor();
  check((await page.getByTestId("status").textContent()).includes("10"), "10 codes left expected");
  await screenshot("two-factor-on");

  // New backup codes: the old batch is gone.
  const regenerate = page.getByTestId("regenerate");
  await regenerate.getByLabel(/password/i).fill(customer.password);
  await regenerate.getByRole("button", { name: "Make new codes" }).click();
  const second = await backupCodes(page);
  check(second.length === 10 && !second.some((code) => first.includes(code)), "codes not replaced");
  await bannerSays(page, "backup codes");
  await screenshot("regenerated-backup-codes");
  await page.getByRole("button", { name: "I have saved my codes" }).click();
  await page.locator("[data-testid=status][data-enabled=true]").waitFor();

  // The notification feed and the security history.
  await page.getByRole("link", { name: /^Activity/ }).click();
  await page.getByTestId("activity-page").waitFor();
  await page.locator("[data-testid=notifications] [data-kind=TWO_FACTOR_ENABLED]").waitFor();
  await page.locator("[data-testid=notifications] [data-kind=BACKUP_CODES_REGENERATED]").waitFor();
  await page.locator("[data-testid=security-events] [data-kind=TWO_FACTOR_ENABLED]").waitFor();
  await page.locator("[data-testid=security-events] [data-kind=SIGN_IN_FAILED]").waitFor();
  check((await page.getByTestId("unread").textContent()) === "2", "two unread notifications expected");
  await screenshot("activity");
  await page.getByRole("button", { name: "Mark all as read" }).click();
  await page.getByTestId("unread").waitFor({ state: "detached" });

  // Signing in again asks for the second factor: a wrong code, a code of the old batch, then
  // one of the new batch.
  await signOut(page);
  await signIn(page, customer);
  const code = page.getByLabel("Verification code or backup code");
  await code.waitFor();
  await screenshot("second-factor");
  await code.fill("000000");
  await page.getByRole("button", { name: "Verify" }).click();
  await page.locator(".message.error").waitFor();
  await code.fill(first[0]);
  await page.getByRole("button", { name: "Verify" }).click();
  await page.locator(".message.error").waitFor();
  await screenshot("second-factor-refused");
  await code.fill(second[0]);
  await page.getByRole("button", { name: "Verify" }).click();
  await page.getByTestId("security-page").waitFor();
  await bannerSays(page, "You signed in with a backup code. 9 left.");

  // And with the app's code.
  await signOut(page);
  await signIn(page, customer);
  await code.waitFor();
  const secretCode = (await ask({ totp: "current" })).code;
  await code.fill(secretCode);
  await page.getByRole("button", { name: "Verify" }).click();
  await page.getByTestId("security-page").waitFor();
  await page.locator("[data-testid=status][data-enabled=true]").waitFor();
  await ask({ subscribers: 1 });

  // Turning it off: the password, then the second confirmation.
  let disable = page.getByTestId("disable");
  await disable.getByLabel(/password/i).fill("a wrong password here");
  await disable.getByRole("button", { name: "Turn off" }).click();
  await page.getByTestId("disable-confirm").getByRole("button", { name: "Continue" }).click();
  disable = page.getByTestId("disable");
  await disable.locator(".message.error").waitFor();
  await disable.getByLabel(/password/i).fill(customer.password);
  await disable.getByRole("button", { name: "Turn off" }).click();
  await page.getByTestId("disable-confirm").waitFor();
  await screenshot("disable-second-confirmation");
  await page.getByTestId("disable-confirm").getByRole("button", { name: "Continue" }).click();
  await page.locator("[data-testid=status][data-enabled=false]").waitFor();
  await bannerSays(page, "Two-factor authentication is now off");
  await screenshot("two-factor-disabled");

  // Lost phone: 2FA on again, then signing in without the phone, a recovery request with the
  // identity document and the company's registration extract.
  await enable(page);
  await page.getByRole("button", { name: "I have saved my codes" }).click();
  await page.locator("[data-testid=status][data-enabled=true]").waitFor();
  await signOut(page);
  await requestRecovery(page, "I lost my phone on the train.", screenshot);

  // Support follows the link of its email: sign-in first, then straight to the request, which
  // it rejects (the documents are unreadable, say).
  const { fragment } = await ask({ supportLink: true });
  check(/^#\/support\/recovery-requests\/\d+$/.test(fragment), `odd link ${fragment}`);
  await page.goto(`${baseUrl}/${fragment}`);
  await signInSupport(page);
  await page.getByTestId("recovery-request").waitFor();
  await page.getByText("I lost my phone on the train.").waitFor();
  check((await page.getByTestId("documents").locator("li").count()) === 2, "two documents expected");
  // A document opens with the session's token: fetched, then saved under its name.
  const [passport] = await Promise.all([
    page.waitForEvent("download"),
    page.getByTestId("documents").getByRole("button", { name: "Download passport.pdf" }).click(),
  ]);
  check(passport.suggestedFilename() === "passport.pdf", passport.suggestedFilename());
  check(readFileSync(await passport.path(), "utf8").includes("/Marker (PASSPORT)"), "not the uploaded document");
  await screenshot("support-recovery-request");
  let decision = page.getByTestId("decision");
  await decision.getByLabel("Note to the customer").fill("The identity document is unreadable.");
  await decision.getByRole("button", { name: "Reject" }).click();
  await page.locator(".badge.status-rejected").waitFor();
  await bannerSays(page, "rejected");
  await screenshot("support-request-rejected");
  await signOut(page);

  // A second request, with a readable document; support finds it in the queue and approves it.
  await requestRecovery(page, "Here is a better scan.");
  // A tab of the customer's is still signed in (a code from the app's other copy, say). When
  // support approves, the account's sessions end: that tab goes back to sign-in saying so, not
  // "the server does not answer".
  const customerTab = await context.newPage();
  customerTab.on("pageerror", (error) => problems.push(`customer tab: ${error.message}`));
  customerTab.on("console", (message) => {
    if (message.type() === "error") problems.push(`customer tab: ${message.text()}`);
  });
  await customerTab.goto(`${baseUrl}/`);
  await signIn(customerTab, customer);
  await customerTab.getByLabel("Verification code or backup code").fill((await ask({ totp: "current" })).code);
  await customerTab.getByRole("button", { name: "Verify" }).click();
  await customerTab.locator("[data-testid=status][data-enabled=true]").waitFor();
  await page.getByRole("link", { name: "Back to sign in" }).click();
  await signInSupport(page);
  await page.getByTestId("recovery-queue").waitFor();
  await page.getByText(customer.email).waitFor();
  check((await page.getByTestId("recovery-queue").locator(".feed .item").count()) === 1, "one pending");
  await screenshot("support-recovery-queue");
  await page.getByText(customer.email).click();
  await page.getByText("Here is a better scan.").waitFor();
  decision = page.getByTestId("decision");
  await decision.getByLabel("Note to the customer").fill("Identity checked, 2FA is off.");
  await decision.getByRole("button", { name: "Approve and turn 2FA off" }).click();
  // One click approves nothing: the request stays pending until the second step.
  await decision.getByTestId("approve-confirm").waitFor();
  check((await page.locator(".status .badge.status-pending").count()) === 1, "approved in one click");
  // The second confirmation (the API needs confirm: true).
  await decision.getByTestId("approve-confirm").getByRole("button", { name: "Yes, approve" }).click();
  await page.locator(".badge.status-approved").waitFor();
  await bannerSays(page, "approved");
  await customerTab.getByTestId("sign-in").waitFor();
  await customerTab.getByTestId("banner").filter({ hasText: "Your session has ended" }).waitFor();
  const customerSees = await customerTab.locator("body").textContent();
  check(!customerSees.includes("does not answer"), "the customer's tab says the server does not answer");
  await customerTab.close();
  await screenshot("support-request-approved");
  await page.getByRole("link", { name: "← All requests" }).click();
  await page.getByRole("tab", { name: "All", exact: true }).click();
  await page.getByRole("tab", { name: "All", selected: true }).waitFor();
  // The tabs move with the arrow keys, as WAI-ARIA's tabs do.
  await page.getByRole("tab", { name: "All", selected: true }).press("ArrowLeft");
  await page.getByRole("tab", { name: "Rejected", selected: true }).waitFor();
  await page.waitForFunction(() => document.activeElement && document.activeElement.id === "tab-REJECTED");
  await page.keyboard.press("ArrowRight");
  await page.getByRole("tab", { name: "All", selected: true }).waitFor();
  await page.locator(".feed .badge.status-rejected").waitFor();
  await page.locator(".feed .badge.status-approved").waitFor();
  await signOut(page);

  // The customer signs in with the password alone again.
  await signIn(page, customer);
  await page.locator("[data-testid=status][data-enabled=false]").waitFor();
  await page.getByRole("link", { name: /^Activity/ }).click();
  await page.locator("[data-testid=notifications] [data-kind=RECOVERY_APPROVED]").waitFor();
  await screenshot("customer-after-recovery");

  // The same screen in French: the client's texts switch at once.
  await page.getByRole("button", { name: "FR", exact: true }).click();
  await page.getByRole("heading", { name: "Activité du compte" }).waitFor();
  await page.getByText("Récupération acceptée par le support").waitFor();
  await screenshot("activity-fr");
});
