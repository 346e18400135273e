// Shared harness of the browser tests: headless Chromium through playwright-core, pages served
// with a strict Content-Security-Policy, and every console error, page error, failed request,
// HTTP error or request to another origin recorded as a problem.
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

// What Verrou's pages must work under (no inline script or style, nothing from elsewhere).
export const CSP =
  "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; " +
  "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

// The pytest side (tests/browser_driver.py) talks in JSON lines: its first line on standard
// input is this script's input; `ask()` writes "ASK <json>" and reads the answer line. That is
// how the test asks for a TOTP code (the server's clock is the test's) or for a change to be
// made once a subscription is live.
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

async function nextLine() {
  const { value, done } = await lines.next();
  if (done) throw new Error("the test closed standard input");
  return JSON.parse(value);
}

export const readInput = nextLine;

export async function ask(question) {
  process.stdout.write(`ASK ${JSON.stringify(question)}\n`);
  return nextLine();
}

export async function openBrowser(baseUrl, { artifacts, locale = "en-GB" } = {}) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
    // Root in a container: Chromium's sandbox needs user namespaces we may not have.
    // A document fulfilled by the route below (to add the CSP header) has no IP address
    // space, so Chromium's Local Network Access checks would treat it as public and block its
    // WebSocket to 127.0.0.1; served for real, page and socket share the server's address.
    args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-features=LocalNetworkAccessChecks"],
  });
  const context = await browser.newContext({
    locale,
    acceptDownloads: true,
    viewport: { width: 1280, height: 900 },
  });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: baseUrl });
  const origin = new URL(baseUrl).origin;
  const problems = [];

  await context.route("**/*", async (route) => {
    const request = route.request();
    if (new URL(request.url()).origin !== origin && !request.url().startsWith("data:")) {
      problems.push(`request to another origin: ${request.url()}`);
      return route.abort();
    }
    if (request.resourceType() !== "document") return route.continue();
    const response = await route.fetch();
    // The server's own policy (transport/browser.py) and this one, both enforced: a list of
    // policies separated by commas is one header of several policies.
    const served = response.headers()["content-security-policy"];
    return route.fulfill({
      response,
      headers: { ...response.headers(), "content-security-policy": served ? `${served}, ${CSP}` : CSP },
    });
  });

  const page = await context.newPage();
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`console error: ${message.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("requestfailed", (request) => {
    // A WebSocket or a fetch cut short by a navigation is no failure of the page.
    const reason = request.failure()?.errorText ?? "";
    if (reason.includes("ERR_ABORTED") && request.resourceType() !== "document") return;
    problems.push(`request failed: ${request.url()} ${reason}`);
  });
  page.on("response", (response) => {
    if (response.status() >= 400) problems.push(`HTTP ${response.status()}: ${response.url()}`);
  });

  if (artifacts) {
    rmSync(artifacts, { recursive: true, force: true });
    mkdirSync(artifacts, { recursive: true });
  }
  let shots = 0;
  async function screenshot(name) {
    if (!artifacts) return;
    shots += 1;
    const file = join(artifacts, `${String(shots).padStart(2, "0")}-${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
  }

  return { browser, context, page, problems, screenshot };
}

/** Run the steps; exit 0 only if they pass and the page reported no problem. */
export async function run(baseUrl, options, steps) {
  const session = await openBrowser(baseUrl, options);
  let failure = null;
  try {
    await steps(session);
  } catch (error) {
    failure = error;
    await session.screenshot("failure").catch(() => {});
  } finally {
    await session.browser.close();
  }
  if (failure) console.error(`FAILED: ${failure.stack || failure}`);
  if (session.problems.length) {
    console.error(`the page reported problems:\n  ${session.problems.join("\n  ")}`);
  }
  if (failure || session.problems.length) process.exit(1);
  console.log("ok");
  process.exit(0);
}
