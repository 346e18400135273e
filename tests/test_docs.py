"""The documentation says what the running server does: the settings table is the settings
object, the CSP quoted is the header sent, the error codes are the enum's and the server's,
links lead somewhere, and the README's operations run against the schema."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from graphql import parse, validate
from pydantic import SecretStr

from schema.build import build_schema
from schema.enums import ErrorCode
from services.settings import Settings
from tests.helpers import Api

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README, *sorted(DOCS.glob("*.md"))]
README_MAX_LINES = 300


def between(text: str, start: str, end: str) -> str:
    """The text between the `<!-- start…` marker line and the `<!-- end -->` marker."""
    return text[text.index(start) : text.index(end)]


# ---- configuration ---------------------------------------------------------------------------


def settings_table() -> dict[str, str]:
    """`| `NAME` | meaning | default |` rows of docs/configuration.md, name to default column."""
    text = between(
        (DOCS / "configuration.md").read_text(), "<!-- settings:start", "<!-- settings:end"
    )
    rows = re.findall(r"^\| `([A-Z0-9_]+)` \| .+ \| (.+?) \|$", text, re.MULTILINE)
    names = [name for name, _ in rows]
    assert len(names) == len(set(names)), "a setting has two rows"
    return dict(rows)


def env_names() -> set[str]:
    return {name.upper() for name in Settings.model_fields}


def test_the_configuration_table_lists_exactly_the_settings() -> None:
    assert set(settings_table()) == env_names()


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No setting from the environment running the tests (nor its former name)."""
    for name in [*env_names(), "SESSION_TTL_SECONDS"]:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def default_of(name: str) -> Any:
    return getattr(Settings(_env_file=None), name.lower())  # type: ignore[call-arg]


@pytest.mark.parametrize("name", sorted(settings_table()))
def test_each_documented_default_is_the_settings_default(
    name: str, clean_environment: pytest.MonkeyPatch
) -> None:
    """A default written as a literal, set in the environment, gives the value Verrou has
    without it; "unset" is None and "empty" the empty string."""
    documented = settings_table()[name]
    default = default_of(name)
    if documented.startswith("unset"):
        assert default is None, f"{name}: documented unset, is {default!r}"
        return
    if documented.startswith("empty"):
        plain = default.get_secret_value() if isinstance(default, SecretStr) else default
        assert plain == "", f"{name}: documented empty, is {default!r}"
        return
    literal = re.match(r"`([^`]+)`", documented)
    assert literal, f"{name}: the default column starts with neither a `literal`, unset nor empty"
    clean_environment.setenv(name, literal.group(1))
    assert default_of(name) == default, f"{name}={literal.group(1)} is not the default {default!r}"


def env_example_lines() -> dict[str, str]:
    """`# NAME=value` lines of .env.example, the first of each name."""
    lines: dict[str, str] = {}
    for name, value in re.findall(
        r"^# ([A-Z][A-Z0-9_]+)=(.*)$", (ROOT / ".env.example").read_text(), re.MULTILINE
    ):
        lines.setdefault(name, value.strip().strip('"'))
    return lines


def test_env_example_lists_exactly_the_settings() -> None:
    assert set(env_example_lines()) - {"SESSION_TTL_SECONDS"} == env_names()


@pytest.mark.parametrize("name", sorted(env_names()))
def test_env_example_shows_each_default(name: str, clean_environment: pytest.MonkeyPatch) -> None:
    """The file says each line "shows the default": true wherever there is a default to show
    (settings without one, like SMTP_HOST, show an example)."""
    default = default_of(name)
    plain = default.get_secret_value() if isinstance(default, SecretStr) else default
    if plain is None or plain == "":
        return
    clean_environment.setenv(name, env_example_lines()[name])
    assert default_of(name) == default


# ---- the Content-Security-Policy -------------------------------------------------------------


def documented_csp() -> str:
    found = re.findall(
        r"^Content-Security-Policy: (.+)$", (DOCS / "security.md").read_text(), re.MULTILINE
    )
    assert len(found) == 1, "docs/security.md quotes the CSP once"
    return found[0].strip()


@pytest.mark.parametrize("path", ["/graphql", "/"], ids=["graphiql", "web client"])
async def test_the_csp_in_the_docs_is_the_one_the_pages_are_sent(api: Api, path: str) -> None:
    page = await api.client.get(path, headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == documented_csp()


# ---- error codes -----------------------------------------------------------------------------


def user_error_codes() -> list[str]:
    """Every code named in the errors table of docs/errors.md, in order."""
    text = between(
        (DOCS / "errors.md").read_text(), "<!-- error-codes:start", "<!-- error-codes:end"
    )
    return re.findall(r"^\| `([A-Z_]{4,})` \|", text, re.MULTILINE)


def test_the_error_table_is_the_error_code_enum_in_its_order() -> None:
    assert user_error_codes() == [code.name for code in ErrorCode]


def test_the_error_table_gives_the_advice_of_the_schema() -> None:
    """The "what the client should do" column is the advice the enum value's description ends
    with (GraphiQL's Docs panel); the "when" column may say more than the schema's short text."""
    text = between(
        (DOCS / "errors.md").read_text(), "<!-- error-codes:start", "<!-- error-codes:end"
    )
    rows = re.findall(r"^\| `([A-Z_]+)` \| .+? \| ([^|]+?) \|$", text, re.MULTILINE)
    assert len(rows) == len(ErrorCode)
    values = build_schema()._schema.type_map["ErrorCode"].values  # type: ignore[attr-defined]
    differing = {
        code: (advice, values[code].description)
        for code, advice in rows
        if not values[code].description.endswith(f" {advice}.")
    }
    assert differing == {}


def top_level_codes() -> set[str]:
    text = between(
        (DOCS / "errors.md").read_text(), "<!-- top-level-codes:start", "<!-- top-level-codes:end"
    )
    return set(re.findall(r"`([A-Z][A-Z_]{3,})`", text))


def test_every_code_named_in_the_error_table_is_an_error_code() -> None:
    """`PASSWORD_TOO_COMMON` or `TEXT_TOO_LONG` (message keys, not codes) would fail here; a
    setting's name or a top-level code (checked below) may be named."""
    text = between(
        (DOCS / "errors.md").read_text(), "<!-- error-codes:start", "<!-- error-codes:end"
    )
    named = set(re.findall(r"`([A-Z][A-Z_]{3,})`", text))
    assert named - env_names() - top_level_codes() <= {code.name for code in ErrorCode}


def server_source() -> str:
    return "\n".join(
        path.read_text()
        for layer in ("server.py", "transport", "schema", "resolvers", "services")
        for path in (
            [ROOT / layer] if layer.endswith(".py") else sorted((ROOT / layer).rglob("*.py"))
        )
    )


def test_every_top_level_code_in_the_docs_is_one_the_server_sends() -> None:
    """A code only a document names (METHOD_NOT_ALLOWED was one) sends clients switching on
    nothing: each must be a string literal of the server's code or an ErrorCode."""
    named = top_level_codes()
    assert {"GRAPHQL_PARSE_FAILED", "CSRF_REFUSED", "QUERY_TOO_COMPLEX"} <= named
    source = server_source()
    unsent = {
        code
        for code in named
        if code not in ErrorCode.__members__ and not re.search(rf"[\"']{code}[\"']", source)
    }
    assert unsent == set()


async def test_disable_without_confirm_is_a_validation_error_not_a_payload_code(api: Api) -> None:
    """What docs/errors.md says of CONFIRMATION_REQUIRED: `confirm: false` gets the code, and a
    missing `confirm` never reaches the service."""
    token = await api.sign_up()
    await api.enable_two_factor(token)
    missing = await api.gql(
        'mutation { disableTwoFactor(input: {password: "x"}) { errors { code } } }', token=token
    )
    assert "data" not in missing or missing["data"] is None
    assert [e["extensions"]["code"] for e in missing["errors"]] == ["GRAPHQL_VALIDATION_FAILED"]
    refused = await api.data(
        'mutation { disableTwoFactor(input: {password: "x", confirm: false}) { errors { code } } }',
        token=token,
    )
    assert refused["disableTwoFactor"]["errors"] == [{"code": "CONFIRMATION_REQUIRED"}]


async def test_too_long_text_is_invalid_input_with_its_message(api: Api) -> None:
    """There is no TEXT_TOO_LONG code: the docs quote the message of INVALID_INPUT."""
    payload = (
        await api.gql(
            "mutation ($input: SignUpInput!) { signUp(input: $input) {"
            " errors { code field message } } }",
            {
                "input": {
                    "email": "a@example.com",
                    "password": "a long enough one",
                    "companyName": "x" * 201,
                }
            },
            headers={"accept-language": "en"},
        )
    )["data"]["signUp"]
    assert payload["errors"] == [
        {
            "code": "INVALID_INPUT",
            "field": ["input", "companyName"],
            "message": "This text is too long (200 characters at most).",
        }
    ]


# ---- metrics ---------------------------------------------------------------------------------


def documented_metrics() -> dict[str, str]:
    rows = re.findall(
        r"^\| `(verrou_[a-z_]+)(?:\{[a-z,]*\})?` \| (counter|gauge|histogram) \|",
        (DOCS / "operations.md").read_text(),
        re.MULTILINE,
    )
    return dict(rows)


async def test_the_metrics_table_is_what_metrics_serves(api: Api) -> None:
    """Same names, same types: a dashboard built from the docs finds every series."""
    served = dict(
        re.findall(
            r"^# TYPE (verrou_[a-z_]+) (\w+)$",
            (await api.client.get("/metrics")).text,
            re.MULTILINE,
        )
    )
    assert len(documented_metrics()) >= 10
    assert documented_metrics() == served


# ---- links -----------------------------------------------------------------------------------


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lowercase, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.MULTILINE | re.DOTALL)
    return {slug(h) for h in re.findall(r"^#{1,6} (.+)$", text, re.MULTILINE)}


def relative_links(page: Path) -> list[str]:
    text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.MULTILINE | re.DOTALL)
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    return [link for link in links if not re.match(r"[a-z]+:", link)]


def test_the_pages_have_relative_links_to_check() -> None:
    """Guards the next test: a link pattern that matches nothing would pass it."""
    assert len(relative_links(README)) >= 10
    assert "docs/architecture.md" in relative_links(README)


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_relative_link_leads_to_a_file_and_heading(page: Path) -> None:
    broken = []
    for link in relative_links(page):
        target, _, anchor = link.partition("#")
        path = (page.parent / target).resolve() if target else page
        if not path.exists():
            broken.append(link)
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            broken.append(link)
    assert broken == []


CODE_DIRS = ("transport", "webclient", "schema", "resolvers", "services", "models", "tests")
CODE_PATH = re.compile(r"`((?:" + "|".join(CODE_DIRS) + r")/[\w./-]*)`")


def code_paths(page: Path) -> list[str]:
    """Backticked paths into the code (`transport/browser.py`, `webclient/tests/`), without
    placeholders: what a reader opens next, and what a file move leaves behind."""
    paths = CODE_PATH.findall(page.read_text())
    return [path for path in paths if "<" not in path and not path.startswith("tests/artifacts")]


def test_the_pages_name_code_paths_to_check() -> None:
    assert "transport/browser.py" in code_paths(DOCS / "security.md")


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_code_path_named_exists(page: Path) -> None:
    assert [path for path in code_paths(page) if not (ROOT / path).exists()] == []


def test_the_docs_name_no_missing_architecture_file() -> None:
    """The README once sent readers to an ARCHITECTURE.md the repository does not have."""
    for page in PAGES:
        assert "ARCHITECTURE.md" not in page.read_text(), page.name


# ---- the README ------------------------------------------------------------------------------


def test_the_readme_is_read_in_ten_minutes() -> None:
    assert len(README.read_text().splitlines()) <= README_MAX_LINES


def graphql_blocks(page: Path) -> list[str]:
    return re.findall(r"^ *```graphql\n(.*?)^ *```", page.read_text(), re.MULTILINE | re.DOTALL)


def readme_operations() -> list[str]:
    return graphql_blocks(README)


def test_the_readme_walkthrough_has_its_operations() -> None:
    operations = readme_operations()
    assert len(operations) >= 8
    assert any("confirmTwoFactor" in operation for operation in operations)


@pytest.mark.parametrize(
    "operation", readme_operations(), ids=lambda op: op.split("{")[1].split("(")[0].strip()
)
def test_each_readme_operation_validates_against_the_schema(operation: str) -> None:
    schema = build_schema()._schema
    assert validate(schema, parse(operation)) == []


def docs_operations() -> list[tuple[str, str]]:
    return [(page.name, block) for page in PAGES[1:] for block in graphql_blocks(page)]


def test_the_docs_have_operations_to_check() -> None:
    assert {page for page, _ in docs_operations()} >= {"api.md", "notifications.md", "recovery.md"}


@pytest.mark.parametrize(
    ("page", "document"), docs_operations(), ids=[page for page, _ in docs_operations()]
)
def test_each_docs_operation_validates_against_the_schema(page: str, document: str) -> None:
    schema = build_schema()._schema
    assert validate(schema, parse(document)) == []
