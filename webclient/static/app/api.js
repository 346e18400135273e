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

/** Called when the server no longer accepts the session (expired, revoked, signed out). */
export function onUnauthenticated(listener) {
  unauthenticatedListeners.add(listener);
}

function headers() {
  const result = {
    Accept: "application/graphql-response+json, application/json",
    "Accept-Language": language(),
  };
  if (session.token) result.Authorization = `Bearer ${session.token}`;
  return result;
}

async function answer(response) {
  let body;
  try {
    body = await response.json();
  } catch {
    throw new ApiError(`HTTP ${response.status}`, "NETWORK");
  }
  if (body.errors && body.errors.length) {
    const [first] = body.errors;
    const code = first.extensions && first.extensions.code;
    if (code === "UNAUTHENTICATED") {
      session.close();
      unauthenticatedListeners.forEach((listener) => listener());
    }
    throw new ApiError(first.message, code);
  }
  return body.data;
}

export async function gql(query, variables = {}) {
  const response = await fetch(ENDPOINT, {
    method: "POST",
    headers: { ...headers(), "Content-Type": "application/json" },
    body: JSON.stringify({ query, variables }),
  });
  return answer(response);
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
  const response = await fetch(ENDPOINT, { method: "POST", headers: headers(), body });
  return answer(response);
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
    // not (4403), and the next request notices the session is gone.
    retryAttempts: Infinity,
    shouldRetry: (event) => !(event && event.code === 4403),
    onNonLazyError: () => {},
  });
  client.subscribe({ query }, { next: (result) => result.data && onData(result.data), error: () => {}, complete: () => {} });
  return () => client.dispose();
}

/** What the API names a payload's expected failure: `errors` of a mutation payload. */
export function firstError(payload) {
  return payload && payload.errors && payload.errors.length ? payload.errors[0] : null;
}
