// GraphiQL for Verrou, from the vendored UMD builds (React, ReactDOM and GraphiQL are globals
// set by the classic scripts before this module runs).
//
// Queries and mutations go over HTTP with the headers of the headers editor. Subscriptions go
// over graphql-ws (`graphql-transport-ws`) on the same /graphql path; the Authorization header
// of the editor becomes the `connection_init` payload `{"authorization": "Bearer …"}`, which is
// how the server authenticates a WebSocket.
import { createClient } from "/static/vendor/graphql-ws/client.js";

const { React, ReactDOM, GraphiQL } = window;

const httpUrl = new URL("/graphql", window.location.href).href;
const wsUrl = httpUrl.replace(/^http/, "ws");

const DEFAULT_QUERY = `# Welcome to Verrou's GraphiQL.
#
# Sign in with the signIn mutation, then put the session token in the
# Headers tab below:  {"Authorization": "Bearer <token>"}
# Subscriptions use the same header (sent in connection_init).

query {
  viewer {
    email
    twoFactor { enabled pendingSetup backupCodesRemaining }
  }
}
`;

/** The value of a header of the editor, whatever its case. */
function header(headers, name) {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers || {})) {
    if (key.toLowerCase() === wanted && typeof value === "string") return value;
  }
  return undefined;
}

/** "query", "mutation" or "subscription": the kind of the operation GraphiQL runs. */
export function operationKind(query, operationName) {
  // Comments and strings cannot hide a keyword or a brace from the scan below.
  const source = query
    .replace(/"""[\s\S]*?"""/g, '""')
    .replace(/"(?:\\.|[^"\\\n])*"/g, '""')
    .replace(/#[^\n\r]*/g, "");
  const operations = [];
  let depth = 0;
  const tokens = /[{}]|\b(query|mutation|subscription|fragment)\b\s*([_A-Za-z][_0-9A-Za-z]*)?/g;
  for (const match of source.matchAll(tokens)) {
    if (match[0] === "{") {
      if (depth === 0 && (operations.length === 0 || operations.at(-1).closed)) {
        operations.push({ kind: "query", name: undefined, closed: false });
      }
      depth += 1;
    } else if (match[0] === "}") {
      depth -= 1;
      if (depth === 0 && operations.length) operations.at(-1).closed = true;
    } else if (depth === 0) {
      operations.push({ kind: match[1], name: match[2], closed: false });
    }
  }
  const runnable = operations.filter((operation) => operation.kind !== "fragment");
  const chosen = operationName
    ? runnable.find((operation) => operation.name === operationName)
    : runnable[0];
  return chosen ? chosen.kind : "query";
}

let socket = null; // { authorization, client }

/** One graphql-ws client per token: a new token in the editor opens a new connection. */
function wsClient(authorization) {
  if (socket && socket.authorization === authorization) return socket.client;
  if (socket) socket.client.dispose();
  const client = createClient({
    url: wsUrl,
    connectionParams: authorization ? { authorization } : {},
    retryAttempts: 0,
  });
  socket = { authorization, client };
  return client;
}

async function overHttp(params, headers) {
  const response = await fetch(httpUrl, {
    method: "POST",
    headers: {
      ...headers,
      "Content-Type": "application/json",
      Accept: "application/graphql-response+json, application/json",
    },
    body: JSON.stringify(params),
  });
  return response.json();
}

/** What a failed socket means, in a sentence: GraphiQL would print a CloseEvent as
 * {"isTrusted": true}. */
export function closeMessage(event) {
  // A socket that fails to open rejects with its "error" event; the close that follows is 1006.
  const failedToOpen = event instanceof Event && event.type === "error";
  const code = failedToOpen ? 1006 : event && event.code;
  const reason = event && event.reason ? ` (${event.reason})` : "";
  if (code === 4403) return "4403: the session ended: put a fresh token in the Headers tab";
  if (code === 4400) return `4400: the server refused a message${reason}`;
  if (code === 4429) return `4429: too many connection_init messages${reason}`;
  if (code === 1006) {
    // A handshake refused with HTTP 403 (an origin the server does not trust) and a server
    // out of reach look the same to a page: a socket closed before it opened.
    return (
      `1006: the socket could not open: origin refused (${window.location.origin} is not ` +
      "a trusted origin): open PUBLIC_URL or add it to CORS_ORIGINS; or the server is down"
    );
  }
  if (typeof code === "number") return `${code}: the socket closed${reason}`;
  return (event && event.message) || String(event);
}

/** The subscription's results; a failure of the socket ends it with a readable error. */
async function* subscription(client, params) {
  try {
    for await (const result of client.iterate(params)) yield result;
  } catch (error) {
    // The server's `error` message is a list of GraphQL errors; anything else is the socket.
    if (Array.isArray(error)) yield { errors: error };
    else yield { errors: [{ message: closeMessage(error), extensions: { closeCode: (error && error.code) || null } }] };
  }
}

function fetcher(params, options) {
  const headers = (options && options.headers) || {};
  if (operationKind(params.query || "", params.operationName) === "subscription") {
    return subscription(wsClient(header(headers, "authorization")), params);
  }
  return overHttp(params, headers);
}

const root = document.getElementById("graphiql");
root.classList.remove("graphiql-loading");
ReactDOM.createRoot(root).render(
  React.createElement(GraphiQL, {
    fetcher,
    defaultQuery: DEFAULT_QUERY,
    defaultEditorToolsVisibility: "headers",
    // A bearer token is a secret: keep it out of localStorage.
    shouldPersistHeaders: false,
  }),
);
