// GraphiQL served by Verrou, offline: the page renders, a query run from the editor returns
// data with the bearer token of the headers editor, and a subscription started from the
// editor receives the notification of a change made elsewhere.
//
//   node webclient/tests/graphiql.mjs BASE_URL, input {"token", "email", "artifacts"} on stdin
import { ask, readInput, run } from "./browser.mjs";

const baseUrl = process.argv[2];
const input = await readInput();

/** Set a CodeMirror 5 editor of GraphiQL to the text. GraphiQL notices the operation name of
 * an edit a moment later, so the operations of this script are anonymous: a stale name would
 * be sent otherwise. */
async function setEditor(page, selector, text) {
  const editor = page.locator(`${selector} .CodeMirror:visible`).first();
  await editor.waitFor();
  await editor.evaluate((element, text) => element.CodeMirror.setValue(text), text);
}

async function resultText(page) {
  return page.evaluate(() => document.querySelector(".result-window .CodeMirror").CodeMirror.getValue());
}

async function waitForResult(page, needle) {
  await page.waitForFunction(
    (needle) => {
      const editor = document.querySelector(".result-window .CodeMirror");
      return editor && editor.CodeMirror.getValue().includes(needle);
    },
    needle,
    { timeout: 15000 },
  );
}

// A host name leading to the same server, whose origin the server does not trust.
const UNTRUSTED = "untrusted.test";

// Each screenshot at 1280 and 375 px (no sideways scroll). Not audited by axe-core: GraphiQL's
// own editors (CodeMirror) have unlabelled textareas and low-contrast tokens, which are the
// vendored GraphiQL's and not the web client's.
await run(baseUrl, { artifacts: input.artifacts, hosts: [UNTRUSTED], audit: false }, async ({ page, problems, screenshot }) => {
  await page.goto(`${baseUrl}/graphql`);
  await page.locator(".graphiql-container").waitFor();
  await page.locator(".graphiql-query-editor .CodeMirror").waitFor();
  await screenshot("graphiql");

  // The token goes in the headers editor, as a developer would paste it.
  await page.getByRole("button", { name: "Headers" }).click();
  await setEditor(page, ".graphiql-editor-tool", JSON.stringify({ Authorization: `Bearer ${input.token}` }));
  await setEditor(page, ".graphiql-query-editor", "{ viewer { email twoFactor { pendingSetup } } }");
  await page.locator(".graphiql-execute-button").click();
  await waitForResult(page, input.email);
  const result = JSON.parse(await resultText(page));
  if (result.data.viewer.email !== input.email) throw new Error(`unexpected result ${JSON.stringify(result)}`);
  await screenshot("graphiql-query");

  // A subscription over graphql-ws, authenticated by the same header.
  await setEditor(page, ".graphiql-query-editor", "subscription { notifications { kind level message } }");
  await page.locator(".graphiql-execute-button").click();
  // Once the server holds the subscription, the test turns 2FA on from elsewhere (another
  // device, as far as this page knows); the notification must show in the result pane.
  await ask({ subscribed: true });
  await waitForResult(page, "TWO_FACTOR_ENABLED");
  await screenshot("graphiql-subscription");

  // The session signed out elsewhere: the server closes the socket with 4403, and the result
  // pane says so in words (not {"errors":[{"isTrusted":true}]}).
  await ask({ signOut: true });
  await waitForResult(page, "4403: the session ended: put a fresh token in the Headers tab");
  if ((await resultText(page)).includes("isTrusted")) throw new Error("a CloseEvent printed as JSON");
  await screenshot("graphiql-session-ended");

  // Opened from an origin the server does not trust: the handshake is refused (403), and the
  // pane says which address to open.
  const untrusted = baseUrl.replace(new URL(baseUrl).hostname, UNTRUSTED);
  await page.goto(`${untrusted}/graphql`);
  await page.locator(".graphiql-query-editor .CodeMirror").waitFor();
  await setEditor(page, ".graphiql-query-editor", "subscription { notifications { kind } }");
  await page.locator(".graphiql-execute-button").click();
  await waitForResult(page, "origin refused");
  const said = await resultText(page);
  if (!said.includes(`http://${new URL(untrusted).host} is not a trusted origin`) || !said.includes("PUBLIC_URL")) {
    throw new Error(`unexpected result ${said}`);
  }
  await screenshot("graphiql-origin-refused");
  // The browser's own report of that refused socket is expected here, and only that.
  const refused = (problem) => problem.includes(`ws://${new URL(untrusted).host}/graphql`);
  const expected = problems.filter(refused);
  if (expected.length === 0) throw new Error("no refused socket seen");
  problems.splice(0, problems.length, ...problems.filter((problem) => !refused(problem)));
});
