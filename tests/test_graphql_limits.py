"""The GraphQL surface against a hostile client: documents too deep, too wide, too long or
too heavy are refused before anything runs; GET is for queries; no batches; and guesses
sent as aliases are still counted one by one."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from models import Account, BackupCode, Session, SignInChallenge
from schema import fanout
from server import create_app
from services.clock import FrozenClock
from tests.conftest import LiveServer, make_settings, start
from tests.helpers import PASSWORD, Api
from tests.ws_client import LEGACY_WS, TRANSPORT_WS, Subscriber

SIGN_UP_FIELDS = "errors { code } session { token }"
NEW_EMAIL = "mallory@example.com"


def sign_up_field(n: int, email: str = NEW_EMAIL, selection: str = SIGN_UP_FIELDS) -> str:
    return (
        f'a{n}: signUp(input: {{email: "{n}.{email}", password: "{PASSWORD}"}}) {{ {selection} }}'
    )


# signUp → session → account, then Account.notifications → edges → node → account, twice:
# 11 levels of fields, one over the default limit of 10.
DEEP_SELECTION = (
    "session { account { notifications { edges { node { account {"
    " notifications { edges { node { id } } } } } } } } }"
)
DEEP_MUTATION = f"mutation {{ {sign_up_field(1, selection=DEEP_SELECTION)} }}"


def wide_mutation(aliases: int) -> str:
    return "mutation {\n" + "\n".join(sign_up_field(n) for n in range(aliases)) + "\n}"


async def accounts() -> int:
    return await Account.all().count()


def top_level_error(body: dict[str, Any]) -> dict[str, Any]:
    assert body.get("data") is None, body
    assert len(body["errors"]) == 1, body
    error: dict[str, Any] = body["errors"][0]
    assert "path" not in error or error["path"] is None
    return error


@pytest.fixture
async def tight(db_path: Path, tmp_path: Path, clock: FrozenClock) -> AsyncIterator[Api]:
    """The app with smaller limits, set through the settings."""
    settings = make_settings(
        db_path,
        tmp_path / "var",
        graphql_max_depth=4,
        graphql_max_aliases=2,
        graphql_max_tokens=100,
        graphql_max_document_bytes=2000,
        graphql_max_variables_bytes=1000,
    )
    async for client in start(create_app(settings, clock=clock)):
        yield Api(client, clock)


# ---------------------------------------------------------------- depth


async def test_a_too_deep_mutation_is_refused_and_never_runs(api: Api) -> None:
    before = await accounts()

    error = top_level_error(await api.gql(DEEP_MUTATION))

    assert error["extensions"] == {
        "code": "QUERY_TOO_COMPLEX",
        "limit": "GRAPHQL_MAX_DEPTH",
        "max": 10,
    }
    assert "11 levels deep" in error["message"] and "limit is 10" in error["message"]
    assert await accounts() == before


async def test_the_deepest_allowed_document_runs(api: Api) -> None:
    # One level less than DEEP_MUTATION: exactly 10.
    selection = DEEP_SELECTION.replace("node { id }", "cursor")
    body = await api.gql(f"mutation {{ {sign_up_field(1, selection=selection)} }}")
    assert "errors" not in body, body
    assert await accounts() == 1


async def test_depth_counts_through_fragments_and_the_limit_is_a_setting(tight: Api) -> None:
    document = f"""
    mutation {{ ...Deep }}
    fragment Deep on Mutation {{ {sign_up_field(1, selection="...Session")} }}
    fragment Session on SignUpPayload {{ session {{ account {{ twoFactor {{ enabled }} }} }} }}
    """

    error = top_level_error(await tight.gql(document))

    assert error["extensions"]["limit"] == "GRAPHQL_MAX_DEPTH"
    assert error["extensions"]["max"] == 4
    assert await accounts() == 0


async def test_a_fragment_bomb_is_measured_without_blowing_up(api: Api) -> None:
    # Forty fragments each spreading the next twice: 2^40 paths, which a walker without
    # memory would follow one by one; the answer comes at once.
    fragments = "\n".join(
        f"fragment F{n} on Query {{ ...F{n + 1} ...F{n + 1} }}" for n in range(40)
    )
    document = f"query {{ ...F0 }}\n{fragments}\nfragment F40 on Query {{ viewer {{ email }} }}"
    body = await api.gql(document)
    assert body == {"data": {"viewer": None}}


# ---------------------------------------------------------------- aliases


async def test_too_many_aliases_are_refused_and_nothing_runs(api: Api) -> None:
    error = top_level_error(await api.gql(wide_mutation(16)))

    assert error["extensions"] == {
        "code": "QUERY_TOO_COMPLEX",
        "limit": "GRAPHQL_MAX_ALIASES",
        "max": 15,
    }
    assert "16 aliases" in error["message"] and "limit is 15" in error["message"]
    assert await accounts() == 0


async def test_aliases_up_to_the_limit_run(api: Api) -> None:
    body = await api.gql(wide_mutation(15))
    assert "errors" not in body, body
    assert await accounts() == 15


async def test_aliases_hidden_in_fragments_count(tight: Api) -> None:
    three = " ".join(sign_up_field(n) for n in range(3))
    document = f"mutation {{ ...Three }}\nfragment Three on Mutation {{ {three} }}"
    error = top_level_error(await tight.gql(document))
    assert error["extensions"]["limit"] == "GRAPHQL_MAX_ALIASES"
    assert await accounts() == 0


# ---------------------------------------------------------------- tokens


async def test_too_many_tokens_are_refused_before_parsing(api: Api) -> None:
    # 2,001 tokens; the mutation up front is never parsed, let alone run.
    document = "mutation { " + sign_up_field(1) + " __typename" * 1980 + " }"
    error = top_level_error(await api.gql(document))

    assert error["extensions"] == {
        "code": "QUERY_TOO_COMPLEX",
        "limit": "GRAPHQL_MAX_TOKENS",
        "max": 2000,
    }
    assert "2000 tokens" in error["message"]
    assert await accounts() == 0


async def test_comments_count_as_tokens(tight: Api) -> None:
    document = "query { viewer { email } }\n" + "#\n" * 100
    error = top_level_error(await tight.gql(document))
    assert error["extensions"]["limit"] == "GRAPHQL_MAX_TOKENS"


# ---------------------------------------------------------------- sizes (HTTP 413)


def padded_mutation(size: int) -> str:
    """A signUp padded with a comment to `size` bytes (a comment is one token)."""
    document = f"mutation {{ {sign_up_field(1)} }}\n# "
    return document + "x" * (size - len(document))


async def test_a_document_over_100_kb_gets_413_and_never_runs(api: Api) -> None:
    response = await api.client.post("/graphql", json={"query": padded_mutation(100_001)})

    assert response.status_code == 413
    error = top_level_error(response.json())
    assert error["extensions"] == {
        "code": "REQUEST_TOO_LARGE",
        "limit": "GRAPHQL_MAX_DOCUMENT_BYTES",
        "max": 100_000,
    }
    assert "100001 bytes" in error["message"] and "100000 bytes" in error["message"]
    assert await accounts() == 0


async def test_a_document_of_exactly_100_kb_runs(api: Api) -> None:
    response = await api.client.post("/graphql", json={"query": padded_mutation(100_000)})
    assert response.status_code == 200, response.text
    assert await accounts() == 1


async def test_a_too_large_query_over_get_gets_413(tight: Api) -> None:
    query = "query { viewer { email } }\n# " + "x" * 2000
    response = await tight.client.get("/graphql", params={"query": query})
    assert response.status_code == 413
    assert top_level_error(response.json())["extensions"]["code"] == "REQUEST_TOO_LARGE"


async def test_too_large_variables_get_413(tight: Api) -> None:
    response = await tight.client.post(
        "/graphql",
        json={
            "query": "mutation ($in: SignUpInput!) { signUp(input: $in) { errors { code } } }",
            "variables": {
                "in": {"email": "eve@example.com", "password": PASSWORD, "companyName": "x" * 1000}
            },
        },
    )
    assert response.status_code == 413
    error = top_level_error(response.json())
    assert error["extensions"] == {
        "code": "REQUEST_TOO_LARGE",
        "limit": "GRAPHQL_MAX_VARIABLES_BYTES",
        "max": 1000,
    }
    assert await accounts() == 0


async def test_limits_hold_in_a_multipart_request(tight: Api) -> None:
    operations: dict[str, Any] = {
        "query": "mutation { " + " ".join(sign_up_field(n) for n in range(3)) + " }",
        "variables": {"file": None},
    }
    response = await tight.client.post(
        "/graphql",
        data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.file"]})},
        files={"0": ("a.pdf", b"%PDF-1.4", "application/pdf")},
    )
    assert response.status_code == 200
    assert top_level_error(response.json())["extensions"]["limit"] == "GRAPHQL_MAX_ALIASES"

    operations = {"query": padded_mutation(2001), "variables": {"file": None}}
    response = await tight.client.post(
        "/graphql",
        data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.file"]})},
        files={"0": ("a.pdf", b"%PDF-1.4", "application/pdf")},
    )
    assert response.status_code == 413
    assert top_level_error(response.json())["extensions"]["code"] == "REQUEST_TOO_LARGE"
    assert await accounts() == 0


# ---------------------------------------------------------------- GET and batches


async def test_a_mutation_over_get_is_405_and_never_runs(api: Api) -> None:
    response = await api.client.get("/graphql", params={"query": wide_mutation(1)})

    assert response.status_code == 405
    assert "mutations are not allowed when using GET" in response.text
    assert "POST" in response.headers["allow"]
    assert await accounts() == 0


async def test_a_query_over_get_still_works(api: Api) -> None:
    response = await api.client.get("/graphql", params={"query": "{ viewer { email } }"})
    assert response.status_code == 200
    assert response.json() == {"data": {"viewer": None}}


async def test_a_batch_is_refused_with_400_and_nothing_runs(api: Api) -> None:
    batch = [{"query": wide_mutation(1)}, {"query": wide_mutation(1)}]
    response = await api.client.post("/graphql", json=batch)

    assert response.status_code == 400
    assert "Batching is not enabled" in response.text
    assert await accounts() == 0


# ---------------------------------------------------------------- aliases cannot out-guess


async def guess_with_aliases(api: Api, right_at: int, guesses: int) -> dict[str, Any]:
    """One request of `guesses` aliased verifySignIn, the right backup code at `right_at`."""
    token = await api.sign_up("alice@example.com")
    enabled = await api.enable_two_factor(token)
    challenge = await api.challenge("alice@example.com")
    codes = ["00000-00000"] * guesses
    codes[right_at - 1] = enabled.backup_codes[0]
    fields = "\n".join(
        f'g{n}: verifySignIn(input: {{challengeToken: $challenge, code: "{code}"}})'
        " { session { token } errors { code } }"
        for n, code in enumerate(codes, start=1)
    )
    document = f"mutation Guess($challenge: String!) {{\n{fields}\n}}"
    return await api.gql(document, {"challenge": challenge})


async def test_thirty_aliased_guesses_open_no_session_even_with_the_right_code_25th(
    db_path: Path, tmp_path: Path, clock: FrozenClock
) -> None:
    settings = make_settings(db_path, tmp_path / "var", graphql_max_aliases=30)
    async for client in start(create_app(settings, clock=clock)):
        api = Api(client, clock)

        body = await guess_with_aliases(api, right_at=25, guesses=30)

        assert "errors" not in body, body
        data = body["data"]
        for n in range(1, 6):
            assert [e["code"] for e in data[f"g{n}"]["errors"]] == ["INVALID_CODE"]
        for n in range(6, 31):
            assert [e["code"] for e in data[f"g{n}"]["errors"]] == ["CHALLENGE_EXPIRED"], n
        assert all(data[f"g{n}"]["session"] is None for n in range(1, 31))
        # In the database: the challenge's five attempts spent, no session but the sign-up's,
        # and the right backup code still unused.
        challenge = await SignInChallenge.get(account__email="alice@example.com")
        assert challenge.attempts >= 5 and challenge.used_at is None
        assert await Session.filter(account__email="alice@example.com").count() == 1
        assert await BackupCode.filter(used_at__isnull=False).count() == 0


async def test_with_the_default_alias_limit_thirty_guesses_do_not_even_run(api: Api) -> None:
    body = await guess_with_aliases(api, right_at=25, guesses=30)

    assert top_level_error(body)["extensions"]["limit"] == "GRAPHQL_MAX_ALIASES"
    challenge = await SignInChallenge.get(account__email="alice@example.com")
    assert challenge.attempts == 0


# ---------------------------------------------------------------- WebSocket


async def subscribe_raw(
    live: LiveServer, clock: FrozenClock, protocol: str, payload: dict[str, Any]
) -> Any:
    """The server's first answer to one subscribe message on a signed-in socket."""
    async with httpx.AsyncClient(base_url=live.url) as http:
        token = await Api(http, clock).sign_up()
    async with connect(live.ws_url, subprotocols=[protocol]) as connection:  # type: ignore[list-item]
        client = Subscriber(connection, protocol)
        ack = await client.init({"authorization": f"Bearer {token}"})
        assert ack["type"] == "connection_ack", ack
        kind = "subscribe" if protocol == TRANSPORT_WS else "start"
        await connection.send(json.dumps({"id": "1", "type": kind, "payload": payload}))
        while True:
            message = await client.receive()
            if message["type"] not in ("ka", "ping", "pong"):
                return message


DEEP_SUBSCRIPTION = (
    "subscription { notifications { account { notifications { edges { node { account {"
    " notifications { edges { node { account { email } } } } } } } } } } }"
)


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_a_too_deep_subscription_is_refused_over_the_socket(
    live: LiveServer, clock: FrozenClock, protocol: str
) -> None:
    message = await subscribe_raw(live, clock, protocol, {"query": DEEP_SUBSCRIPTION})

    assert message["type"] == "error", message
    errors = message["payload"] if protocol == TRANSPORT_WS else [message["payload"]]
    assert errors[0]["extensions"]["limit"] == "GRAPHQL_MAX_DEPTH"
    assert errors[0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_a_too_large_subscription_is_refused_over_the_socket(
    live: LiveServer, clock: FrozenClock, protocol: str
) -> None:
    query = "subscription { notifications { id } }\n# " + "x" * 100_000
    message = await subscribe_raw(live, clock, protocol, {"query": query})

    assert message["type"] == "error", message
    errors = message["payload"] if protocol == TRANSPORT_WS else [message["payload"]]
    assert errors[0]["extensions"]["code"] == "REQUEST_TOO_LARGE"
    assert errors[0]["extensions"]["limit"] == "GRAPHQL_MAX_DOCUMENT_BYTES"


async def test_a_too_large_subscription_is_never_parsed(
    live: LiveServer, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sharing identical subscriptions (schema/fanout.py) parses a document to tell a
    subscription from a query: not one over the limits, which is refused unparsed."""
    parsed: list[int] = []
    real_parse = fanout.parse

    def spy(source: str, *args: object, **kwargs: object) -> object:
        parsed.append(len(source))
        return real_parse(source, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(fanout, "parse", spy)
    fanout._operation_type.cache_clear()
    query = "subscription { notifications { id } }\n# " + "x" * 100_000
    message = await subscribe_raw(live, clock, TRANSPORT_WS, {"query": query})

    assert message["type"] == "error", message
    assert all(size < 100_000 for size in parsed), parsed


async def test_a_too_wide_mutation_over_the_socket_never_runs(
    live: LiveServer, clock: FrozenClock
) -> None:
    message = await subscribe_raw(live, clock, TRANSPORT_WS, {"query": wide_mutation(16)})

    assert message["type"] == "error", message
    assert message["payload"][0]["extensions"]["limit"] == "GRAPHQL_MAX_ALIASES"
    assert await Account.filter(email__startswith="1.").count() == 0


async def test_a_json_body_far_over_the_limits_is_cut_off_while_it_streams_in(
    tight: Api,
) -> None:
    # Four times (2,000 + 1,000) bytes + 64 KiB is the most a JSON request may weigh here.
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"query": "{ viewer { email } }", "variables": {"pad": "'
        for _ in range(100):
            yield b"x" * 10_000
        yield b'"}}'

    response = await tight.client.post(
        "/graphql", content=chunks(), headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 413
    assert response.text == f"Request body over {4 * 3000 + 64 * 1024} bytes"


async def test_uploads_keep_their_own_larger_limit(tight: Api) -> None:
    # A multipart body bigger than the JSON limit still reaches GraphQL.
    operations = {"query": "{ viewer { email } }", "variables": {"f": None}}
    response = await tight.client.post(
        "/graphql",
        data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.f"]})},
        files={"0": ("a.pdf", b"%PDF-1.4" + b"x" * 200_000, "application/pdf")},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"viewer": None}}
