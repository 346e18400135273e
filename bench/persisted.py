"""The same query sent as text, as an automatic persisted query (its sha256 alone) and as a
trusted document (`documentId`), CPU per request in this process (bench/profile_status.py's
harness: the ASGI app called as uvicorn calls it, no network).

    .venv/bin/python bench/persisted.py [--requests 10000] [--rounds 20]
    .venv/bin/python bench/persisted.py --instructions      (valgrind's callgrind; ~20 minutes)

Two queries, each sent as Apollo Client sends each form: the web client's `Status`
(webclient/trusted-documents.json, the manifest the server is given as TRUSTED_DOCUMENTS),
and the six-field `twoFactorStatus` of bench/status.py, added to a copy of that manifest.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
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


FORMS = ("text", "persisted query (sha256)", "trusted document (documentId)")
# Requests of each measured process under callgrind: the difference of the two counts is
# what the extra requests cost, start-up and warm-up cancelling out.
FEW, MANY = 100, 600


def documents() -> dict[str, tuple[str, str, str]]:
    """Each query's id, text and operation name."""
    return {
        f"`{OPERATION}` (web client)": (*status_document(), OPERATION),
        "six-field `twoFactorStatus`": (
            sha256_of(SIX_FIELDS_DOCUMENT),
            SIX_FIELDS_DOCUMENT,
            SIX_FIELDS,
        ),
    }


@contextlib.asynccontextmanager
async def served() -> AsyncIterator[tuple[Any, str]]:
    """The app given the web client's manifest and the six-field query, and a session."""
    with tempfile.TemporaryDirectory(prefix="verrou-bench-") as tmp:
        manifest = manifest_with_six_fields(Path(tmp))
        async with serving_app(trusted_documents=manifest) as (app, token):
            yield app, token


async def timed(requests: int, rounds: int) -> None:
    async with served() as (app, token):
        targets: dict[tuple[str, str], tuple[Any, bytes]] = {}
        for query, (document_id, text, operation) in documents().items():
            forms = bodies(document_id, text, operation)
            answers = {name: await call(app, body, token) for name, body in forms.items()}
            same_answers(answers, "forms")
            print(f"{query}: all answer {answers['text'].decode()[:100]}…")
            targets |= {(query, name): (app, body) for name, body in forms.items()}
        rows = await interleaved(targets, token, requests, rounds)
    print(f"\nCPU per request, {requests} requests each, in-process (no network)\n")
    table(rows, "µs per request", "{:,.0f}")


def table(rows: dict[tuple[str, str], float], unit: str, number: str) -> None:
    print(f"| query | form | {unit} | less than text |")
    print("|---|---|---:|---:|")
    for (query, name), value in rows.items():
        base = rows[(query, "text")]
        print(f"| {query} | {name} | {number.format(value)} | {1 - value / base:.1%} |")


async def send_only(query: str, form: str, requests: int) -> None:
    """The measured process of --instructions: the app, 50 requests of warm-up, then these."""
    document_id, text, operation = documents()[query]
    async with served() as (app, token):
        body = bodies(document_id, text, operation)[form]
        for _ in range(50):
            answer = await call(app, body, token)
        # What start-up and warm-up made lives to the end: out of the collector's sight, so
        # that a full collection of it, which falls in one process and not in another
        # (tens of millions of instructions), is not counted as some requests' cost.
        gc.collect()
        gc.freeze()
        for _ in range(requests):
            answer = await call(app, body, token)
    if not answer.startswith(b'{"data":{"twoFactorStatus":{') or b'"errors"' in answer:
        raise SystemExit(f"{query}, {form}: not the status: {answer[:300]!r}")


def instructions() -> None:
    """Instructions per request of each form under valgrind's callgrind: a count that what
    else the machine runs does not move, where CPU time varies by several percent."""
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install -y valgrind)")
    rows: dict[tuple[str, str], float] = {}
    for query in documents():
        for form in FORMS:
            counts = []
            for requests in (FEW, MANY):
                command = [
                    "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                    sys.executable, __file__, "--send-only", query, form, str(requests),
                ]  # fmt: skip
                # One hash seed for every process: dict and set layouts as alike as they can be.
                environment = {**os.environ, "PYTHONHASHSEED": "0"}
                done = subprocess.run(
                    command, capture_output=True, text=True, check=True, env=environment
                )
                found = re.search(r"Collected : (\d+)", done.stderr)
                if found is None:
                    raise RuntimeError(f"no instruction count from callgrind: {done.stderr[-500:]}")
                counts.append(int(found.group(1)))
            rows[(query, form)] = (counts[1] - counts[0]) / (MANY - FEW)
            print(f"{query}, {form}: {rows[(query, form)]:,.0f} instructions a request", flush=True)
    print(f"\nInstructions per request (callgrind, {MANY} requests less {FEW}), in-process\n")
    table(rows, "instructions per request", "{:,.0f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=20, help="the best round of each counts")
    parser.add_argument(
        "--instructions", action="store_true", help="count instructions under callgrind instead"
    )
    parser.add_argument(
        "--send-only", nargs=3, metavar=("QUERY", "FORM", "N"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.send_only:
        query, form, requests = args.send_only
        asyncio.run(send_only(query, form, int(requests)))
    elif args.instructions:
        instructions()
    else:
        asyncio.run(timed(args.requests, args.rounds))


if __name__ == "__main__":
    main()
