"""The mutations, one module per part of the flow: each reads its input, calls its resolver
and builds its payload. Root's Mutation names them with `strawberry.mutation(resolver=…)`."""
