// The web client's trusted documents: an Apollo persisted query manifest of every operation it
// sends (operations.mjs), for TRUSTED_DOCUMENTS. Its ids are the sha256 of each text, so the
// same file serves `documentId` and automatic persisted queries.
//
//   node manifest.mjs --write   rewrite webclient/trusted-documents.json (`make webclient-manifest`)
//   node manifest.mjs           exit 1 when the web client sends an operation the file lacks
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { ROOT, webClientOperations } from './operations.mjs';

const TARGET = join(ROOT, 'webclient', 'trusted-documents.json');
const sha256 = (text) => createHash('sha256').update(text).digest('hex');

const operations = webClientOperations().map(({ name, type, body }) => ({
  id: sha256(body), name, type, body,
}));
const unique = [...new Map(operations.map((operation) => [operation.id, operation])).values()];
const manifest = { format: 'apollo-persisted-query-manifest', version: 1, operations: unique };

if (process.argv.includes('--write')) {
  writeFileSync(TARGET, `${JSON.stringify(manifest, null, 2)}\n`);
  console.log(`wrote ${unique.length} operations to webclient/trusted-documents.json`);
  process.exit(0);
}
let committed = { operations: [] };
try {
  committed = JSON.parse(readFileSync(TARGET, 'utf8'));
} catch (error) {
  console.error(`FAIL  webclient/trusted-documents.json: ${error.message}`);
}
const known = new Set(committed.operations.map((operation) => operation.id));
const missing = unique.filter((operation) => !known.has(operation.id));
for (const operation of missing) {
  console.error(`FAIL  the web client sends ${operation.type} ${operation.name}, absent from the manifest`);
}
const sent = new Set(unique.map((operation) => operation.id));
const unused = committed.operations.filter((operation) => !sent.has(operation.id));
for (const operation of unused) {
  console.log(`note  the manifest still lists ${operation.name}, which the web client no longer sends`);
}
if (missing.length) {
  console.error('run `make webclient-manifest` and commit webclient/trusted-documents.json');
  process.exit(1);
}
console.log(`pass  the manifest lists all ${unique.length} operations of the web client`);
