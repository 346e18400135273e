// The web client when things go wrong: a session ended by the server (the live socket closed
// with 4403, or `viewer: null` when no socket said so) goes back to sign-in saying why; only a
// request that cannot reach the server says the server does not answer; a wrong password on a
// 2FA change names the password; a rate limit is one live countdown with the button disabled;
// the language switch changes the account's language.
//
//   node webclient/tests/sessions.mjs BASE_URL, input {"customer": {"email", "password"},
//   "artifacts"} on stdin
import { ask, readInput, run } from "./browser.mjs";

const baseUrl = process.argv[2];
const input = await readInput();
const { customer } = input;

const NETWORK = "The server does not answer";
const ENDED = "Your session has ended";

function check(condition, message) {
  if (!condition) throw new Error(message);
}

async function signIn(page) {
  await page.getByTestId("sign-in").waitFor();
  await page.getByLabel("Email address").fill(customer.email);
  await page.getByLabel("Password").fill(customer.password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.getByTestId("security-page").waitFor();
}

/** Back on the sign-in form with the banner saying the session ended, never "no answer". */
async function endedAndSaidSo(page) {
  await page.getByTestId("sign-in").waitFor();
  await page.getByTestId("banner").filter({ hasText: ENDED }).first().waitFor();
  check(!(await page.locator("body").textContent()).includes(NETWORK), "said the server does not answer");
  check(page.url().endsWith("#/signin"), `not on the sign-in page: ${page.url()}`);
}

await run(baseUrl, { artifacts: input.artifacts }, async ({ page, screenshot }) => {
  await page.goto(`${baseUrl}/`);
  await page.getByRole("button", { name: "EN", exact: true }).click();
  await signIn(page);

  // A wrong password on a 2FA change: the password is wrong, not "email or password".
  const start = page.getByTestId("start");
  await start.getByLabel(/password/i).fill("not the password at all");
  await start.getByRole("button", { name: "Turn on" }).click();
  const refused = start.locator(".message.error");
  await refused.waitFor();
  check((await refused.textContent()) === "Incorrect password.", `said: ${await refused.textContent()}`);
  await screenshot("wrong-password-on-a-2fa-change");

  // Too many attempts: one sentence with a countdown, the button disabled until it ends.
  const { seconds } = await ask({ rateLimit: true });
  await start.getByLabel(/password/i).fill(customer.password);
  await start.getByRole("button", { name: "Turn on" }).click();
  await start.getByTestId("retry-countdown").waitFor();
  const said = await refused.textContent();
  check(/^Too many attempts\. Try again in \d+ s\.$/.test(said), `rate-limit message: ${said}`);
  check(said.split("Try again").length === 2, `the retry time is said twice: ${said}`);
  const button = start.getByRole("button", { name: "Turn on" });
  check(await button.isDisabled(), "the button stays enabled during the rate limit");
  await screenshot("rate-limit-countdown");
  const first = Number(said.match(/in (\d+) s/)[1]);
  check(first <= seconds && first >= seconds - 1, `countdown starts at ${first}, not ${seconds}`);
  await page.waitForFunction(
    (first) => {
      const count = document.querySelector("[data-testid=retry-countdown]");
      return count && Number.parseInt(count.textContent, 10) < first;
    },
    first,
    { timeout: 3000 },
  );
  await start.getByTestId("retry-countdown").waitFor({ state: "detached", timeout: (seconds + 3) * 1000 });
  check(await button.isEnabled(), "the button is still disabled after the countdown");
  // The server's clock is the test's: it lets the same time go by.
  await ask({ waited: seconds });

  // The language switch, signed in, changes the account's language too.
  await page.getByRole("button", { name: "FR", exact: true }).click();
  await page.getByRole("heading", { name: "Double authentification" }).first().waitFor();
  check((await ask({ locale: true })).locale === "FR", "the account's language did not follow");
  await page.getByRole("button", { name: "EN", exact: true }).click();
  await page.getByRole("heading", { name: "Two-factor authentication" }).first().waitFor();
  check((await ask({ locale: true })).locale === "EN", "the account's language did not follow back");

  // The server cannot be reached: that, and only that, says the server does not answer.
  await page.route("**/graphql", (route) => route.abort("aborted"));
  await page.getByRole("link", { name: /^Activity/ }).click();
  await page.locator(".message.error", { hasText: NETWORK }).first().waitFor();
  await screenshot("server-unreachable");
  await page.unroute("**/graphql");
  await page.locator("#nav a[href='#/security']").click();
  await page.getByTestId("security-page").waitFor();

  // Every session signed out elsewhere: the live socket closes with 4403, the page goes back
  // to sign-in at once, saying why.
  await ask({ subscribers: 1 });
  await ask({ signOutEverywhere: true });
  await endedAndSaidSo(page);
  await screenshot("session-ended-by-the-socket");

  // Without a socket to say so (a proxy dropping WebSockets, say), `viewer: null` on the next
  // page does the same; before the fix, Activity said the server does not answer.
  await page.routeWebSocket(/\/graphql$/, () => {});
  await signIn(page);
  await ask({ signOutEverywhere: true });
  await page.getByRole("link", { name: /^Activity/ }).click();
  await endedAndSaidSo(page);
  await screenshot("session-ended-viewer-null");
});
