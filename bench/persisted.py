"""The same query sent as text, as an automatic persisted query (its sha256 alone) and as a
trusted document (`documentId`), CPU per request in this process (bench/profile_status.py's
harness: the ASGI app called as uvicorn calls it, no network).

    .venv/bin/python bench/persisted.py [--requests 5000]

The query is the web client's `Status` (webclient/trusted-documents.json, the manifest the
server is given as TRUSTED_DOCUMENTS), sent as Apollo Client sends each form.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import ROOT
from bench.profile_status import call, interleaved, same_answers, serving_app

MANIFEST = ROOT / "webclient" / "trusted-documents.json"
OPERATION = "Status"


def status_document() -> tuple[str, str]:
    """The id and text of the web client's Status query."""
    manifest = json.loads(MANIFEST.read_text())
    found = [o for o in manifest["operations"] if o["name"] == OPERATION]
    return found[0]["id"], found[0]["body"]


def bodies(document_id: str, text: str) -> dict[str, bytes]:
    apq = {"version": 1, "sha256Hash": document_id}
    forms: dict[str, dict[str, Any]] = {
        "text": {"operationName": OPERATION, "variables": {}, "query": text},
        "persisted query (sha256)": {
            "operationName": OPERATION,
            "variables": {},
            "extensions": {"persistedQuery": apq},
        },
        "trusted document (documentId)": {
            "operationName": OPERATION,
            "variables": {},
            "documentId": f"sha256:{document_id}",
        },
    }
    return {name: json.dumps(form).encode() for name, form in forms.items()}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=10000)
    args = parser.parse_args()
    document_id, text = status_document()
    async with serving_app(trusted_documents=MANIFEST) as (app, token):
        forms = bodies(document_id, text)
        answers = {name: await call(app, body, token) for name, body in forms.items()}
        same_answers(answers, "forms")
        print(f"all answer {answers['text'].decode()[:120]}…")
        targets = {name: (app, body) for name, body in forms.items()}
        rows = await interleaved(targets, token, args.requests)
    base = rows["text"]
    print(f"\nCPU per request, {args.requests} requests each, in-process (no network)\n")
    print("| form | µs per request | faster than text |")
    print("|---|---:|---:|")
    for name, micros in rows.items():
        print(f"| {name} | {micros:,.0f} | {1 - micros / base:.0%} |")


if __name__ == "__main__":
    asyncio.run(main())
