// The public API, as any client uses it: GraphQL over HTTP at /graphql (JSON, or a GraphQL
// multipart request for uploads), and live notifications over graphql-ws on the same path.
import { createClient } from "/static/vendor/graphql-ws/client.js";
import { language } from "./i18n.js";

const ENDPOINT = new URL("/graphql", window.location.href).href;
// sessionStorage: the token lives as long as the tab, and is never shared with other tabs.
const TOKEN_KEY = "verrou.session";

export const session = {
  get token() {
    return window.sessionStorage.getItem(TOKEN_KEY);
  },
  open(token) {
    window.sessionStorage.setItem(TOKEN_KEY, token);
  },
  close() {
    window.sessionStorage.removeItem(TOKEN_KEY);
  },
};

/** A top-level GraphQL error (the request itself failed); `code` is its extensions.code. */
export class ApiError extends Error {
  constructor(message, code) {
    super(message);
    this.code = code;
  }
}

const unauthenticatedListeners = new Set();

/** Called when the server no longer accepts the session (expired, revoked, signed out), with
 * how it said so: "UNAUTHENTICATED" (an error), "VIEWER_NULL" (`viewer: null`) or "SOCKET_4403"
 * (the live socket closed by the server). */
export function onUnauthenticated(listener) {
  unauthenticatedListeners.add(listener);
}

/** The session is over: forget its token, and tell the page (once per token). */
export function sessionEnded(how) {
  if (!session.token) return;
  session.close();
  unauthenticatedListeners.forEach((listener) => listener(how));
}

function headers() {
  const result = {
    Accept: "application/graphql-response+json, application/json",
    "Accept-Language": language(),
  };
  if (session.token) result.Authorization = `Bearer ${session.token}`;
  return result;
}

async function answer(response, sent) {
  let body;
  try {
    body = await response.json();
  } catch {
    throw new ApiError(`HTTP ${response.status}`, "NETWORK");
  }
  if (body.errors && body.errors.length) {
    const [first] = body.errors;
    const code = first.extensions && first.extensions.code;
    if (code === "UNAUTHENTICATED") sessionEnded("UNAUTHENTICATED");
    throw new ApiError(first.message, code);
  }
  // A signed-in query reading `viewer` gets null once the session is gone (revoked by a
  // support approval, a password reset elsewhere): that is a session end, not a broken page.
  if (sent && body.data && "viewer" in body.data && body.data.viewer === null) {
    sessionEnded("VIEWER_NULL");
    throw new ApiError("session ended", "UNAUTHENTICATED");
  }
  return body.data;
}

/** fetch, with a failure to reach the server (a TypeError of fetch) as a NETWORK error. */
async function send(init) {
  try {
    return await fetch(ENDPOINT, init);
  } catch {
    throw new ApiError("network", "NETWORK");
  }
}

export async function gql(query, variables = {}) {
  const sent = Boolean(session.token);
  const response = await send({
    method: "POST",
    headers: { ...headers(), "Content-Type": "application/json" },
    body: JSON.stringify({ query, variables }),
  });
  return answer(response, sent);
}

/**
 * A GraphQL multipart request (github.com/jaydenseric/graphql-multipart-request-spec):
 * `files` maps a variable path such as "input.identityDocument" to a File.
 */
export async function gqlUpload(query, variables, files) {
  const body = new FormData();
  const entries = Object.entries(files).filter(([, file]) => file);
  body.append("operations", JSON.stringify({ query, variables }));
  body.append(
    "map",
    JSON.stringify(Object.fromEntries(entries.map(([path], i) => [String(i), [`variables.${path}`]]))),
  );
  entries.forEach(([, file], i) => body.append(String(i), file, file.name));
  // The browser sets the multipart Content-Type with its boundary.
  const sent = Boolean(session.token);
  const response = await send({ method: "POST", headers: headers(), body });
  return answer(response, sent);
}

/**
 * Live notifications of the signed-in account; returns a function that stops them. The token
 * goes in the connection_init payload, as the server expects of a WebSocket.
 */
export function subscribe(query, onData) {
  const token = session.token;
  const client = createClient({
    url: ENDPOINT.replace(/^http/, "ws"),
    connectionParams: { authorization: `Bearer ${token}` },
    lazy: false,
    // Lost connections come back (a server restart, a laptop waking up); a refused token does
    // not: 4403 is the server ending the session (revoked, expired, signed out elsewhere).
    retryAttempts: Infinity,
    shouldRetry: (event) => !(event && event.code === 4403),
    onNonLazyError: () => {},
    on: {
      closed: (event) => {
        if (event && event.code === 4403 && session.token === token) sessionEnded("SOCKET_4403");
      },
    },
  });
  client.subscribe({ query }, { next: (result) => result.data && onData(result.data), error: () => {}, complete: () => {} });
  return () => client.dispose();
}

/**
 * Download a file the API links to (a recovery request's document): its URL needs the
 * session's bearer token, which a plain link or a new tab would not send. The blob is then
 * saved under `fileName`.
 */
export async function download(url, fileName) {
  let response;
  try {
    response = await fetch(new URL(url, window.location.href).href, {
      headers: session.token ? { Authorization: `Bearer ${session.token}` } : {},
    });
  } catch {
    throw new ApiError("network", "NETWORK");
  }
  if (response.status === 401) {
    sessionEnded("UNAUTHENTICATED");
    throw new ApiError("session ended", "UNAUTHENTICATED");
  }
  if (!response.ok) throw new ApiError(`HTTP ${response.status}`, "DOWNLOAD_FAILED");
  const href = URL.createObjectURL(await response.blob());
  const link = document.createElement("a");
  link.href = href;
  link.download = fileName;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(href), 0);
}

/** What the API names a payload's expected failure: `errors` of a mutation payload. */
export function firstError(payload) {
  return payload && payload.errors && payload.errors.length ? payload.errors[0] : null;
}
