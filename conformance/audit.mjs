// Runs every GraphQL-over-HTTP audit of the npm package graphql-http against a server that
// is already running (this script starts nothing), prints one line per audit and exits 1
// when any MUST or SHOULD audit fails. MAY audits are reported, never fatal.
//
//   node audit.mjs http://127.0.0.1:8000/graphql
import { serverAudits } from 'graphql-http';

const url = process.argv[2] ?? process.env.GRAPHQL_URL;
if (!url) {
  console.error('usage: node audit.mjs <graphql url>');
  process.exit(2);
}

const audits = serverAudits({ url });
const results = [];
for (const audit of audits) {
  // One at a time: the results are easier to read and the server is a small test instance.
  const result = await audit.fn();
  results.push(result);
}

const level = (name) => name.split(' ', 1)[0];
const failures = [];
const width = Math.max(...results.map((r) => r.id.length));
for (const result of results) {
  const passed = result.status === 'ok';
  const mark = passed ? 'pass' : level(result.name) === 'MAY' ? 'note' : 'FAIL';
  console.log(`${mark}  ${result.id.padEnd(width)}  ${result.name}`);
  if (!passed) {
    console.log(`      ${result.reason}`);
    if (level(result.name) !== 'MAY') failures.push(result);
  }
}

const passed = results.filter((r) => r.status === 'ok').length;
console.log(`\n${passed}/${results.length} audits pass; ${failures.length} MUST/SHOULD failure(s)`);
process.exit(failures.length ? 1 : 0);
