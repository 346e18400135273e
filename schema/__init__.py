"""The GraphQL API: Strawberry types, inputs, payloads and the root operations.

Build the executable schema with `schema.build.build_schema`.
"""
