// The password pages of the reference web client in headless Chromium: "forgot password",
// the emailed reset link with 2FA on (on to the code page), and the "this wasn't me" link.
//
//   node webclient/tests/passwords.mjs BASE_URL, input on stdin:
//   {"customer": {"email", "password"}, "newPassword", "artifacts"}
import { ask, readInput, run } from "./browser.mjs";

const baseUrl = process.argv[2];
const input = await readInput();
const { customer, newPassword } = input;

await run(baseUrl, { artifacts: input.artifacts }, async ({ page, screenshot }) => {
  await page.goto(`${baseUrl}/#/signin`);
  await page.getByTestId("sign-in").waitFor();
  await page.getByTestId("forgot-link").click();
  const forgot = page.getByTestId("forgot-password");
  await forgot.waitFor();
  await forgot.getByLabel("Email address").fill(customer.email);
  await forgot.getByRole("button", { name: "Send the link" }).click();
  await forgot.getByText("If an account exists for this address").waitFor();
  await screenshot("forgot-password-sent");

  // The link of the email, as the customer's mail client would open it.
  const { fragment } = await ask({ resetLink: true });
  await page.goto(`${baseUrl}/${fragment}`);
  const reset = page.getByTestId("reset-password");
  await reset.waitFor();
  await reset.getByLabel("New password").fill(newPassword);
  await screenshot("reset-password");
  await reset.getByRole("button", { name: "Save the password" }).click();
  // 2FA is on: the code is still asked.
  const code = page.getByTestId("second-factor");
  await code.waitFor();
  await code.getByLabel(/code/i).fill((await ask({ totp: "current" })).code);
  await code.getByRole("button", { name: "Verify" }).click();
  await page.getByTestId("sign-out").waitFor();
  await screenshot("signed-in-after-reset");

  // "This wasn't me", from the same browser while signed in: one confirmation.
  const { fragment: secure } = await ask({ secureLink: true });
  await page.goto(`${baseUrl}/${secure}`);
  const form = page.getByTestId("secure-account");
  await form.waitFor();
  await page.getByTestId("secure-confirm").click();
  await form.getByText("Done: every session is signed out.").waitFor();
  await screenshot("account-secured");
});
