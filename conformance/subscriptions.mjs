// Subscriptions as real clients speak them, against a server that is already running:
// graphql-transport-ws through the npm graphql-ws client (what Apollo Client and urql use),
// and the legacy graphql-ws protocol (subscriptions-transport-ws) over a bare WebSocket.
//
//   VERROU_TOKEN=<bearer token> VERROU_PASSWORD=<password> node subscriptions.mjs <graphql url>
//
// The account behind the token must have 2FA on: regenerateBackupCodes is the trigger, and
// it publishes a BACKUP_CODES_REGENERATED notification to every open subscription.
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const url = process.argv[2] ?? process.env.GRAPHQL_URL;
const token = process.env.VERROU_TOKEN;
const password = process.env.VERROU_PASSWORD;
if (!url || !token || !password) {
  console.error('usage: VERROU_TOKEN=… VERROU_PASSWORD=… node subscriptions.mjs <graphql url>');
  process.exit(2);
}
const wsUrl = url.replace(/^http/, 'ws');

const NOTIFICATIONS = 'subscription { notifications { id kind level message account { email } } }';
const REGENERATE = `mutation ($input: RegenerateBackupCodesInput!) {
  regenerateBackupCodes(input: $input) { backupCodes errors { code message } }
}`;

async function regenerate() {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json',
      authorization: `Bearer ${token}`,
    },
    body: JSON.stringify({ query: REGENERATE, variables: { input: { password } } }),
  });
  const body = await response.json();
  const payload = body.data?.regenerateBackupCodes;
  if (response.status !== 200 || !payload || payload.errors.length) {
    throw new Error(`regenerateBackupCodes failed: ${response.status} ${JSON.stringify(body)}`);
  }
}

// A subscribe message has no acknowledgement in either protocol, so the first event may be
// published before the server has registered the subscription: trigger again until one
// arrives (each trigger publishes one event), within a bounded number of tries.
async function triggerUntil(received) {
  for (let attempt = 0; attempt < 20; attempt += 1) {
    await regenerate();
    const event = await Promise.race([
      received,
      new Promise((resolve) => setTimeout(() => resolve(null), 500)),
    ]);
    if (event) return event;
  }
  throw new Error('no notification arrived after 20 triggers');
}

function expectRegenerated(event, protocol) {
  const notification = event?.data?.notifications;
  if (notification?.kind !== 'BACKUP_CODES_REGENERATED' || !notification.account?.email) {
    throw new Error(`${protocol}: unexpected event ${JSON.stringify(event)}`);
  }
  console.log(`pass  ${protocol}: notification ${notification.kind} for ${notification.account.email}`);
}

async function transportWs() {
  const client = createClient({
    url: wsUrl,
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${token}` },
    retryAttempts: 0,
  });
  let resolveEvent;
  let rejectEvent;
  const received = new Promise((resolve, reject) => {
    resolveEvent = resolve;
    rejectEvent = reject;
  });
  const unsubscribe = client.subscribe(
    { query: NOTIFICATIONS },
    { next: resolveEvent, error: rejectEvent, complete: () => {} },
  );
  try {
    expectRegenerated(await triggerUntil(received), 'graphql-transport-ws (graphql-ws client)');
  } finally {
    unsubscribe();
    await client.dispose();
  }
}

async function transportWsRefusesAnonymous() {
  const client = createClient({ url: wsUrl, webSocketImpl: WebSocket, retryAttempts: 0, lazy: false });
  const closed = await new Promise((resolve) => {
    client.on('closed', (event) => resolve(event));
  });
  await client.dispose();
  if (closed.code !== 4403) throw new Error(`anonymous connection closed with ${closed.code}, not 4403`);
  console.log('pass  graphql-transport-ws: a connection without a token is closed with 4403');
}

function legacyConnection(payload) {
  const socket = new WebSocket(wsUrl, 'graphql-ws');
  const messages = [];
  const waiters = [];
  socket.on('message', (raw) => {
    const message = JSON.parse(raw.toString());
    if (message.type === 'ka') return; // keep-alive
    const waiter = waiters.shift();
    if (waiter) waiter(message);
    else messages.push(message);
  });
  const next = () =>
    messages.length ? Promise.resolve(messages.shift()) : new Promise((resolve) => waiters.push(resolve));
  const opened = new Promise((resolve, reject) => {
    socket.on('open', resolve);
    socket.on('error', reject);
  });
  const closed = new Promise((resolve) => socket.on('close', (code) => resolve(code)));
  return {
    socket,
    next,
    closed,
    async init() {
      await opened;
      if (socket.protocol !== 'graphql-ws') throw new Error(`subprotocol ${socket.protocol}`);
      socket.send(JSON.stringify({ type: 'connection_init', payload }));
      return next();
    },
  };
}

async function legacyWs() {
  const connection = legacyConnection({ authorization: `Bearer ${token}` });
  const ack = await connection.init();
  if (ack.type !== 'connection_ack') throw new Error(`legacy graphql-ws: ${JSON.stringify(ack)}`);
  connection.socket.send(JSON.stringify({ id: '1', type: 'start', payload: { query: NOTIFICATIONS } }));
  const received = connection.next().then((message) => {
    if (message.type !== 'data' || message.id !== '1') {
      throw new Error(`legacy graphql-ws: ${JSON.stringify(message)}`);
    }
    return message.payload;
  });
  expectRegenerated(await triggerUntil(received), 'graphql-ws (legacy protocol)');
  connection.socket.send(JSON.stringify({ id: '1', type: 'stop' }));
  connection.socket.close(1000);
}

async function legacyWsRefusesAnonymous() {
  const connection = legacyConnection({});
  const refusal = await connection.init();
  const code = await connection.closed;
  if (refusal.type !== 'connection_error') {
    throw new Error(`legacy graphql-ws: anonymous got ${JSON.stringify(refusal)}`);
  }
  console.log(`pass  graphql-ws (legacy): a connection without a token gets connection_error, close ${code}`);
}

try {
  await transportWs();
  await transportWsRefusesAnonymous();
  await legacyWs();
  await legacyWsRefusesAnonymous();
  console.log('\nsubscriptions: every check passes');
} catch (error) {
  console.error(`FAIL  ${error.message}`);
  process.exit(1);
}
