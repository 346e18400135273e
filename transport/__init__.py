"""GraphQL over HTTP and WebSocket, and everything around a request: limits, middleware,
browser rules (CORS, CSRF, headers), the session cookie, socket lifetimes, downloads, probes,
logging set-up. Imports schema/, resolvers/ and services/; nothing below imports it."""
