// Shared harness of the browser tests: headless Chromium through playwright-core, pages served
// with a strict Content-Security-Policy, and every console error, page error, failed request,
// HTTP error or request to another origin recorded as a problem.
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

// What Verrou's pages must work under (no inline script or style, nothing from elsewhere).
// axe-core, evaluated in the page (as a DevTools evaluation, which the page's CSP allows).
const AXE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

// A small phone's width (CSS pixels).
const PHONE = 375;

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

/** `hosts`: extra host names that lead to the server (Chromium's host resolver rules), whose
 * origins the page may then use, to see how the server treats an origin it does not trust. */
/** `narrow`: each screenshot is taken at 1280 px and again at 375 px (a phone), where the page
 * must not scroll sideways; `audit`: at both widths, axe-core finds no serious or critical
 * accessibility violation. */
export async function openBrowser(
  baseUrl,
  { artifacts, locale = "en-GB", hosts = [], narrow = true, audit = true } = {},
) {
  const server = new URL(baseUrl).hostname;
  const rules = hosts.map((host) => `MAP ${host} ${server}`).join(",");
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
    // Root in a container: Chromium's sandbox needs user namespaces we may not have.
    // A document fulfilled by the route below (to add the CSP header) has no IP address
    // space, so Chromium's Local Network Access checks would treat it as public and block its
    // WebSocket to 127.0.0.1; served for real, page and socket share the server's address.
    args: [
      "--no-sandbox",
      "--disable-dev-shm-usage",
      "--disable-features=LocalNetworkAccessChecks",
      ...(rules ? [`--host-resolver-rules=${rules}`] : []),
    ],
  });
  const context = await browser.newContext({
    locale,
    acceptDownloads: true,
    viewport: { width: 1280, height: 900 },
  });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: baseUrl });
  const origins = [baseUrl, ...hosts.map((host) => baseUrl.replace(server, host))].map((url) => new URL(url).origin);
  const problems = [];

  await context.route("**/*", async (route) => {
    const request = route.request();
    if (!origins.includes(new URL(request.url()).origin) && !request.url().startsWith("data:")) {
      problems.push(`request to another origin: ${request.url()}`);
      return route.abort();
    }
    if (request.resourceType() !== "document") return route.continue();
    // Playwright fetches the document itself, without Chromium's host rules.
    const url = new URL(request.url());
    const response = await route.fetch({ url: request.url().replace(url.origin, origins[0]) });
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
  /** Serious or critical axe-core violations of the page as it is, as one error. */
  async function accessible(name) {
    if (!audit) return;
    if (!(await page.evaluate(() => Boolean(window.axe)))) await page.evaluate(AXE);
    const found = await page.evaluate(async () => {
      const { violations } = await window.axe.run(document, { resultTypes: ["violations"] });
      return violations
        .filter((violation) => violation.impact === "serious" || violation.impact === "critical")
        .map((violation) => `${violation.id} (${violation.nodes.map((node) => node.target.join(" ")).join(", ")})`);
    });
    const width = page.viewportSize().width;
    if (found.length) throw new Error(`${name} at ${width} px, accessibility: ${found.join("; ")}`);
  }

  let shots = 0;
  async function screenshot(name) {
    if (!artifacts) return;
    shots += 1;
    const file = join(artifacts, `${String(shots).padStart(2, "0")}-${name}`);
    await page.screenshot({ path: `${file}.png`, fullPage: true });
    await accessible(name);
    if (!narrow) return;
    const wide = page.viewportSize();
    await page.setViewportSize({ width: PHONE, height: 740 });
    try {
      const width = await page.evaluate(() => document.scrollingElement.scrollWidth);
      if (width > PHONE) throw new Error(`${name}: ${width} px wide on a ${PHONE} px phone`);
      await page.screenshot({ path: `${file}-${PHONE}.png`, fullPage: true });
      await accessible(name);
    } finally {
      await page.setViewportSize(wide);
    }
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
