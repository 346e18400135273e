// Persisted queries as Apollo Client 4 speaks them, against a server that is already running:
// its PersistedQueryLink (automatic persisted queries) over HttpLink, POST and GET.
//
//   node persisted.mjs <graphql url> <manifest to write>
//     The server runs anything: the first request of each operation is its hash alone, the
//     server answers PersistedQueryNotFound, the link sends the text and it runs; a fresh
//     client then runs it by hash alone. Writes the texts the client sent as an Apollo
//     persisted query manifest, for the second run.
//   node persisted.mjs <graphql url> --trusted
//     The server runs that manifest only (TRUSTED_DOCUMENTS_ONLY): its operations run by hash
//     alone at once, by `documentId` too, and any other one is PERSISTED_QUERY_NOT_ALLOWED.
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';

import { ApolloClient, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';

const [url, target] = process.argv.slice(2);
if (!url || !target) {
  console.error('usage: node persisted.mjs <graphql url> (<manifest to write> | --trusted)');
  process.exit(2);
}
const trustedRun = target === '--trusted';

const sha256 = (text) => createHash('sha256').update(text).digest('hex');
const VIEWER = gql`query Viewer { viewer { id email } }`;
// Its own operation for GET: the POST run has registered Viewer's hash already.
const VIEWER_BY_GET = gql`query ViewerByGet { viewer { email } }`;
const SIGN_OUT = gql`mutation SignOut { signOut { errors { code } } }`;
const ELSEWHERE = gql`query Elsewhere { viewer { id } }`;

let failures = 0;
function check(name, ok, detail = '') {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${ok || !detail ? '' : `: ${detail}`}`);
  if (!ok) failures += 1;
}

// Every request the client sends, as the server sees it: method, query text, hash.
function recordingClient(sent, { useGET = false } = {}) {
  const recordingFetch = async (input, init) => {
    const address = new URL(typeof input === 'string' ? input : input.url);
    const params = init?.method === 'GET'
      ? Object.fromEntries(address.searchParams)
      : JSON.parse(init.body);
    const extensions = typeof params.extensions === 'string'
      ? JSON.parse(params.extensions) : params.extensions;
    sent.push({
      method: init?.method ?? 'GET',
      query: params.query ?? null,
      hash: extensions?.persistedQuery?.sha256Hash ?? null,
    });
    return fetch(input, init);
  };
  const link = new PersistedQueryLink({ sha256, useGETForHashedQueries: useGET })
    .concat(new HttpLink({ uri: url, fetch: recordingFetch }));
  return new ApolloClient({ link, cache: new InMemoryCache() });
}

async function openServerChecks() {
  const texts = new Map();
  for (const useGET of [false, true]) {
    const via = useGET ? 'GET' : 'POST';
    const [name, query] = useGET ? ['ViewerByGet', VIEWER_BY_GET] : ['Viewer', VIEWER];
    const sent = [];
    const first = await recordingClient(sent, { useGET }).query({ query });
    check(`${via}: a new hash is answered PersistedQueryNotFound, the link retries with the text`,
      first.data?.viewer === null && sent.length === 2 && sent[0].query === null
        && sent[1].query !== null && sent[0].hash === sent[1].hash
        && sent[0].method === via,
      JSON.stringify({ sent, first }));
    texts.set(name, sent[1]?.query);
    const again = [];
    const second = await recordingClient(again, { useGET }).query({ query });
    check(`${via}: a fresh client runs it by its hash alone`,
      second.data?.viewer === null && again.length === 1 && again[0].query === null,
      JSON.stringify({ again, second }));
  }
  const sent = [];
  const signedOut = await recordingClient(sent, { useGET: true }).mutate({ mutation: SIGN_OUT });
  check('a mutation registers and runs over POST even with GET for hashed queries',
    Array.isArray(signedOut.data?.signOut?.errors) && sent.every((r) => r.method === 'POST')
      && sent.length === 2,
    JSON.stringify({ sent, signedOut }));
  texts.set('SignOut', sent[1]?.query);
  const hijack = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      query: texts.get('SignOut'),
      extensions: { persistedQuery: { version: 1, sha256Hash: sha256(texts.get('Viewer')) } },
    }),
  });
  check('a text sent under another text\'s hash is refused', hijack.status === 400);
  const operations = [...texts].map(([name, body]) => ({
    id: sha256(body), name, type: name === 'SignOut' ? 'mutation' : 'query', body,
  }));
  writeFileSync(target, JSON.stringify(
    { format: 'apollo-persisted-query-manifest', version: 1, operations }, null, 2));
}

async function trustedServerChecks() {
  const sent = [];
  const viewer = await recordingClient(sent).query({ query: VIEWER });
  check('a manifest operation runs by its hash alone, no retry',
    viewer.data?.viewer === null && sent.length === 1 && sent[0].query === null,
    JSON.stringify({ sent, viewer }));
  try {
    const outside = await recordingClient([]).query({ query: ELSEWHERE });
    check('an operation outside the manifest is refused', false, JSON.stringify(outside));
  } catch (error) {
    const codes = (error.errors ?? []).map((e) => e.extensions?.code);
    check('an operation outside the manifest is refused with PERSISTED_QUERY_NOT_ALLOWED',
      codes.includes('PERSISTED_QUERY_NOT_ALLOWED'), String(error));
  }
  const byId = await fetch(`${url}?documentId=sha256:${sent[0]?.hash}`);
  const body = await byId.json();
  check('the same operation runs by documentId over GET',
    byId.status === 200 && body.data?.viewer === null, JSON.stringify(body));
}

try {
  await (trustedRun ? trustedServerChecks() : openServerChecks());
} catch (error) {
  check('Apollo Client ran every operation', false, error?.stack ?? String(error));
}
process.exit(failures ? 1 : 0);
