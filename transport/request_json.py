"""JSON from clients, refused whole when it holds text that Verrou cannot store.

`json.loads` turns a `\\ud800` escape into a lone surrogate: a `str` that no encoder takes,
so it would fail far from the request (hashing a password, writing a row) as an
unexpected error. `\\u0000` is valid JSON, but PostgreSQL's text types cannot hold it
(schema/text_rules.py refuses it in the GraphQL document itself). And json.loads recurses
once per nesting level, so `[[[[…` thousands deep raises RecursionError instead of a parse
error. All of these are the client's bad request: 400, never a server error.
"""

from __future__ import annotations

import json
import re

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def decode(data: str | bytes) -> object:
    """json.loads, raising json.JSONDecodeError for NUL, lone surrogates, deep nesting."""
    try:
        text = data if isinstance(data, str) else data.decode("utf-8")
    except UnicodeDecodeError:  # RFC 8259: JSON between systems is UTF-8
        raise json.JSONDecodeError("not UTF-8", "", 0) from None
    try:
        value = json.loads(text)
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply", text, 0) from None
    if _has_unstorable_text(value):
        raise json.JSONDecodeError("NUL or lone UTF-16 surrogate in a string", text, 0)
    return value


def _has_unstorable_text(value: object) -> bool:
    # Iterative: the document was already as deep as json.loads allows.
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if _UNSTORABLE.search(item):
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False
