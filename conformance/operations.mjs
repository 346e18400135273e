// The GraphQL operations the reference web client sends, read from its sources: every template
// literal of webclient/static/app that starts with `query`, `mutation` or `subscription`, with
// its `${NAME}` parts replaced by the string constants of that name (`const ERRORS = "errors {
// … }"`). They are plain strings (no build step, no gql tag), so this is how tools find them:
// the typed-client check (typed-clients.mjs) and the trusted documents manifest (manifest.mjs).
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

import { parse, print } from 'graphql';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
const APP = join(ROOT, 'webclient', 'static', 'app');
const OPERATION = /`(\s*(?:query|mutation|subscription)\b[^`]*)`/g;
const CONSTANT = /\bconst ([A-Z][A-Z0-9_]*) = (?:"([^"\\]*)"|`([^`]*)`);/g;
const PART = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

function* sources(folder) {
  for (const entry of readdirSync(folder, { withFileTypes: true })) {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) yield* sources(path);
    else if (entry.name.endsWith('.js')) yield path;
  }
}

// [{file, name, type, body}] in file order; `body` is the text exactly as the client sends it.
export function webClientOperations() {
  const files = [...sources(APP)].sort().map((path) => [path, readFileSync(path, 'utf8')]);
  const constants = new Map();
  for (const [, text] of files) {
    for (const match of text.matchAll(CONSTANT)) constants.set(match[1], match[2] ?? match[3]);
  }
  const resolve = (text, path, depth = 0) => {
    if (depth > 10) throw new Error(`${relative(ROOT, path)}: constants nested too deep`);
    return text.replace(PART, (_, name) => {
      if (!constants.has(name)) {
        throw new Error(`${relative(ROOT, path)}: \${${name}} is not a string constant of the app`);
      }
      return resolve(constants.get(name), path, depth + 1);
    });
  };
  const found = [];
  for (const [path, text] of files) {
    for (const match of text.matchAll(OPERATION)) {
      const body = resolve(match[1], path);
      const [definition] = parse(body).definitions;
      found.push({
        file: relative(ROOT, path),
        name: definition.name?.value ?? null,
        type: definition.operation,
        body,
        printed: print(parse(body)),
      });
    }
  }
  return found;
}
