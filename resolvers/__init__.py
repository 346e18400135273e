"""Between the schema and the services: read the context (resolvers/context.py), call a
service, return what it returns. The schema imports these, never the reverse; resolvers
import neither models/ nor tortoise (services.records names the records they pass on) nor
transport/ (the session cookie is reached through the context)."""
