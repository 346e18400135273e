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

await run(baseUrl, { artifacts: input.artifacts }, async ({ page, screenshot }) => {
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
});
