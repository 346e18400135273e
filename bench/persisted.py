"""The same query sent as text, as an automatic persisted query (its sha256 alone) and as a
trusted document (`documentId`), CPU per request in this process (bench/profile_status.py's
harness: the ASGI app called as uvicorn calls it, no network).

    .venv/bin/python bench/persisted.py [--requests 5000]

Two queries, each sent as Apollo Client sends each form: the web client's `Status`
(webclient/trusted-documents.json, the manifest the server is given as TRUSTED_DOCUMENTS),
and the six-field `twoFactorStatus` of bench/status.py, added to a copy of that manifest.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import ROOT
from bench.profile_status import call, interleaved, same_answers, serving_app
from bench.status import SIX_FIELDS_QUERY
from services.persisted_queries import sha256_of

MANIFEST = ROOT / "webclient" / "trusted-documents.json"
OPERATION = "Status"
SIX_FIELDS = "TwoFactorStatus"
SIX_FIELDS_DOCUMENT = f"query {SIX_FIELDS} {SIX_FIELDS_QUERY}"


def status_document() -> tuple[str, str]:
    """The id and text of the web client's Status query."""
    manifest = json.loads(MANIFEST.read_text())
    found = [o for o in manifest["operations"] if o["name"] == OPERATION]
    return found[0]["id"], found[0]["body"]


def manifest_with_six_fields(directory: Path) -> Path:
    """The web client's manifest and the six-field status query: the server's manifest."""
    manifest = json.loads(MANIFEST.read_text())
    six = {"id": sha256_of(SIX_FIELDS_DOCUMENT), "name": SIX_FIELDS, "type": "query"}
    manifest["operations"].append({**six, "body": SIX_FIELDS_DOCUMENT})
    path = directory / "trusted-documents.json"
    path.write_text(json.dumps(manifest))
    return path


def bodies(document_id: str, text: str, operation: str = OPERATION) -> dict[str, bytes]:
    apq = {"version": 1, "sha256Hash": document_id}
    forms: dict[str, dict[str, Any]] = {
        "text": {"operationName": operation, "variables": {}, "query": text},
        "persisted query (sha256)": {
            "operationName": operation,
            "variables": {},
            "extensions": {"persistedQuery": apq},
        },
        "trusted document (documentId)": {
            "operationName": operation,
            "variables": {},
            "documentId": f"sha256:{document_id}",
        },
    }
    return {name: json.dumps(form).encode() for name, form in forms.items()}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=20, help="the best round of each counts")
    args = parser.parse_args()
    documents = {
        f"`{OPERATION}` (web client)": (*status_document(), OPERATION),
        "six-field `twoFactorStatus`": (
            sha256_of(SIX_FIELDS_DOCUMENT),
            SIX_FIELDS_DOCUMENT,
            SIX_FIELDS,
        ),
    }
    with tempfile.TemporaryDirectory(prefix="verrou-bench-") as tmp:
        manifest = manifest_with_six_fields(Path(tmp))
        async with serving_app(trusted_documents=manifest) as (app, token):
            targets: dict[tuple[str, str], tuple[Any, bytes]] = {}
            for query, (document_id, text, operation) in documents.items():
                forms = bodies(document_id, text, operation)
                answers = {name: await call(app, body, token) for name, body in forms.items()}
                same_answers(answers, "forms")
                print(f"{query}: all answer {answers['text'].decode()[:100]}…")
                targets |= {(query, name): (app, body) for name, body in forms.items()}
            rows = await interleaved(targets, token, args.requests, args.rounds)
    print(f"\nCPU per request, {args.requests} requests each, in-process (no network)\n")
    print("| query | form | µs per request | faster than text |")
    print("|---|---|---:|---:|")
    for (query, name), micros in rows.items():
        base = rows[(query, "text")]
        print(f"| {query} | {name} | {micros:,.0f} | {1 - micros / base:.0%} |")


if __name__ == "__main__":
    asyncio.run(main())
