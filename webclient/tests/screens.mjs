// The screens a newcomer meets first: sign-up, then the account's settings (company,
// language, billing contact and its emailed link) and its sessions and devices (end one, end
// every other one). Each screenshot is taken at 1280 and 375 px, where no screen may scroll
// sideways (browser.mjs).
//
//   node webclient/tests/screens.mjs BASE_URL, input {"customer": {"email", "password"},
//   "billingContact", "artifacts"} on stdin
import { ask, readInput, run } from "./browser.mjs";

const baseUrl = process.argv[2];
const input = await readInput();
const { customer } = input;

function check(condition, message) {
  if (!condition) throw new Error(message);
}

await run(baseUrl, { artifacts: input.artifacts }, async ({ page, screenshot }) => {
  await page.goto(`${baseUrl}/`);
  await page.getByRole("button", { name: "EN", exact: true }).click();
  await page.getByTestId("sign-in").waitFor();
  await screenshot("sign-in");

  // Sign-up from the sign-in page; the new account lands on its security page.
  await page.getByTestId("sign-up-link").click();
  const signUp = page.getByTestId("sign-up");
  await signUp.waitFor();
  check(
    (await page.evaluate(() => document.activeElement && document.activeElement.tagName)) === "H2",
    "focus is not on the new screen's heading",
  );
  await signUp.getByLabel("Email address").fill(customer.email);
  await signUp.getByLabel("Password").fill(customer.password);
  await signUp.getByLabel("Company").fill("Atelier Dupont");
  await screenshot("sign-up");
  await signUp.getByRole("button", { name: "Create the account" }).click();
  await page.getByTestId("security-page").waitFor();
  await screenshot("security-signed-up");
  check((await ask({ account: true })).companyName === "Atelier Dupont", "the company was not saved");

  // The account's settings: company and language.
  await page.locator("#nav a[href='#/account']").click();
  const profile = page.getByTestId("profile");
  await profile.waitFor();
  const focused = await page.evaluate(() => [document.activeElement.tagName, document.activeElement.textContent]);
  check(focused.join(" ") === "H1 Your account", `focus on ${focused}, not the screen's heading`);
  await screenshot("account");
  await profile.getByLabel("Company").fill("Dupont & Fils");
  await profile.getByLabel("Language").selectOption("FR");
  await profile.getByRole("button", { name: "Save" }).click();
  // The client follows the account's language.
  await page.getByRole("heading", { name: "Votre compte" }).waitFor();
  let account = await ask({ account: true });
  check(account.companyName === "Dupont & Fils" && account.locale === "FR", `not saved: ${JSON.stringify(account)}`);
  await screenshot("account-fr");
  await page.getByRole("button", { name: "EN", exact: true }).click();
  await page.getByRole("heading", { name: "Your account" }).waitFor();
  check((await ask({ account: true })).locale === "EN", "the switch did not change the account's language");

  // A new billing contact: unconfirmed until its emailed link is opened.
  const billing = page.getByTestId("billing-contact");
  await billing.getByLabel("Billing contact").fill(input.billingContact);
  await billing.getByRole("button", { name: "Save" }).click();
  await page.getByText("a confirmation link was just sent").waitFor();
  check((await page.getByTestId("billing-state").textContent()).includes("not confirmed"), "shown as confirmed");
  const { fragment } = await ask({ billingLink: true });
  await page.goto(`${baseUrl}/${fragment}`);
  await page.getByTestId("verify-billing-contact").filter({ hasText: /confirmed|verified/i }).waitFor();
  await page.goto(`${baseUrl}/#/account`);
  await page.getByTestId("billing-state").filter({ hasText: "Address confirmed." }).waitFor();

  // Sessions: this one and another device's; end that one, then every other one.
  await ask({ otherSessions: 2 });
  await page.reload();
  await page.getByTestId("sessions").waitFor();
  check((await page.getByTestId("session").count()) === 3, "three sessions expected");
  await screenshot("sessions");
  await page.locator("[data-testid=session][data-current=false]").first().getByRole("button", { name: /^Sign out ./ }).click();
  await page.getByText("Done: the list is up to date.").waitFor();
  check((await page.getByTestId("session").count()) === 2, "the session did not end");
  check((await ask({ liveSessions: true })).count === 2, "the server still has three sessions");
  await page.getByTestId("sign-out-others").click();
  await page.locator("[data-testid=session][data-current=false]").waitFor({ state: "detached" });
  check((await ask({ liveSessions: true })).count === 1, "other sessions remain");
  await page.getByTestId("security-page").or(page.getByTestId("account-page")).waitFor();
  await screenshot("sessions-signed-out-others");

  // Each screen in both languages (each screenshot is audited by axe-core at both widths).
  async function sweep(screens) {
    for (const lang of ["fr", "en"]) {
      await page.getByRole("button", { name: lang.toUpperCase(), exact: true }).click();
      await page.locator(`html[lang=${lang}]`).waitFor();
      for (const [hash, testid] of screens) {
        await page.goto(`${baseUrl}/${hash}`);
        await page.getByTestId(testid).waitFor();
        await screenshot(`${testid}-${lang}`);
      }
    }
  }
  await sweep([
    ["#/security", "security-page"],
    ["#/activity", "activity-page"],
    ["#/account", "account-page"],
  ]);
  await page.getByTestId("sign-out").click();
  await sweep([
    ["#/signin", "sign-in"],
    ["#/signup", "sign-up"],
    ["#/signin/forgot", "forgot-password"],
    ["#/reset-password?token=unknown", "reset-password"],
  ]);
});
