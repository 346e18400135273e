// Shared harness of the browser tests: headless Chromium through playwright-core, pages served
// with a strict Content-Security-Policy, and every console error, page error, failed request,
// HTTP error or request to another origin recorded as a problem.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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
  async function accessible(target, name) {
    if (!audit) return;
    if (!(await target.evaluate(() => Boolean(window.axe)))) await target.evaluate(AXE);
    const found = await target.evaluate(async () => {
      const { violations } = await window.axe.run(document, { resultTypes: ["violations"] });
      return violations
        .filter((violation) => violation.impact === "serious" || violation.impact === "critical")
        .map((violation) => `${violation.id} (${violation.nodes.map((node) => node.target.join(" ")).join(", ")})`);
    });
    const width = target.viewportSize().width;
    if (found.length) throw new Error(`${name} at ${width} px, accessibility: ${found.join("; ")}`);
  }

  let shots = 0;
  /** The page at 1280 px, then at 375 px (no sideways scroll), each audited. */
  async function bothWidths(target, name, file) {
    await target.screenshot({ path: `${file}.png`, fullPage: true });
    await accessible(target, name);
    if (!narrow) return;
    const wide = target.viewportSize();
    await target.setViewportSize({ width: PHONE, height: 740 });
    try {
      const width = await target.evaluate(() => document.scrollingElement.scrollWidth);
      if (width > PHONE) throw new Error(`${name}: ${width} px wide on a ${PHONE} px phone`);
      await target.screenshot({ path: `${file}-${PHONE}.png`, fullPage: true });
      await accessible(target, name);
    } finally {
      await target.setViewportSize(wide);
    }
  }

  // Which screens were seen in which language, printed at the end (`run`).
  const audited = [];

  /** The same screen in the client's other language, in a tab of its own: the session's
   * storage copied, the other language stored, the same address opened. Switching the
   * language in the page itself would draw the screen anew and lose what the flow put there
   * (a filled form, an error), and tell the server the account's new language. The tab may
   * read but not change anything: a mutation there is a problem. */
  async function otherLanguage(name, file) {
    const state = await page.evaluate(() => ({
      lang: document.documentElement.lang,
      switchable: Boolean(document.querySelector("#lang button")),
      hash: window.location.hash,
      session: Object.entries(window.sessionStorage),
      stored: window.localStorage.getItem("verrou.lang"),
    }));
    if (!state.switchable) return;
    const other = state.lang === "fr" ? "en" : "fr";
    const tab = await context.newPage();
    tab.on("pageerror", (error) => problems.push(`${name}-${other}: page error: ${error.message}`));
    tab.on("console", (message) => {
      if (message.type() === "error") problems.push(`${name}-${other}: console error: ${message.text()}`);
    });
    try {
      await tab.route("**/graphql", (route) => {
        const body = route.request().postData() || "";
        if (!/"query":"\s*mutation/.test(body)) return route.fallback();
        problems.push(`${name}-${other}: the audit tab sent a mutation`);
        return route.abort();
      });
      await tab.addInitScript(
        ({ session, lang }) => {
          for (const [key, value] of session) window.sessionStorage.setItem(key, value);
          window.localStorage.setItem("verrou.lang", lang);
        },
        { session: state.session, lang: other },
      );
      await tab.setViewportSize(page.viewportSize());
      await tab.goto(page.url());
      await tab.locator(`html[lang=${other}]`).waitFor();
      await tab.waitForLoadState("networkidle");
      await tab.locator("#app h1, #app h2").first().waitFor();
      // A tab that holds a session may still be on its way to the screen (its first
      // queries answered late on a loaded machine): it is given a few seconds to arrive.
      const reopened = state.session.length
        ? await tab
            .waitForFunction((expected) => window.location.hash === expected, state.hash, { timeout: 5000 })
            .then(() => true, () => false)
        : (await tab.evaluate(() => window.location.hash)) === state.hash;
      if (reopened) {
        await bothWidths(tab, `${name} (${other})`, `${file}-${other}`);
        audited.push(`${name}: ${state.lang} ${other}`);
        return;
      }
    } finally {
      await tab.close();
      // localStorage is the context's: the flow's tab keeps its language.
      await page.evaluate((stored) => {
        if (stored === null) window.localStorage.removeItem("verrou.lang");
        else window.localStorage.setItem("verrou.lang", stored);
      }, state.stored);
    }
    // A screen a fresh tab cannot open (a sign-in half-way, held in the page's memory): the
    // flow's tab switches and back, signed out only (no account's language to change).
    if (state.session.length) throw new Error(`${name}: not reopened in a tab of its own`);
    // Drawn anew, a filled form would lose what the flow typed or attached.
    const filled = await page.evaluate(() =>
      [...document.querySelectorAll("#app input, #app textarea")].some((field) =>
        field.type === "file" ? field.files.length > 0 : field.value !== "",
      ),
    );
    if (filled) {
      audited.push(`${name}: ${state.lang} only (a filled form, not ${other})`);
      return;
    }
    await switchTo(other);
    try {
      await bothWidths(page, `${name} (${other})`, `${file}-${other}`);
    } finally {
      await switchTo(state.lang);
    }
    if ((await page.evaluate(() => window.location.hash)) !== state.hash) {
      throw new Error(`${name}: the language switch left the screen`);
    }
    audited.push(`${name}: ${state.lang} ${other} (switched in place)`);
  }

  async function switchTo(lang) {
    await page.locator("#lang").getByRole("button", { name: lang.toUpperCase(), exact: true }).click();
    await page.locator(`html[lang=${lang}]`).waitFor();
    await page.waitForLoadState("networkidle");
    await page.locator("#app h1, #app h2").first().waitFor();
  }

  async function screenshot(name) {
    if (!artifacts) return;
    shots += 1;
    const file = join(artifacts, `${String(shots).padStart(2, "0")}-${name}`);
    await bothWidths(page, name, file);
    if (audit && name !== "failure") await otherLanguage(name, file);
  }

  return { browser, context, page, problems, screenshot, audited };
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
  if (session.audited.length) {
    const list = `screens audited (language of the flow, then of its other tab):\n  ${session.audited.join("\n  ")}\n`;
    console.log(list);
    writeFileSync(join(options.artifacts, "audited.txt"), list);
  }
  process.exit(0);
}
