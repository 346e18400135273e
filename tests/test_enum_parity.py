"""The API's enums and what the layers below store are two classes each (services may not
import the schema): they must agree, member for member and value for value, or a stored value
fails to serialise (or a new kind never reaches clients)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from enum import Enum
from pathlib import Path

import pytest

import models
import services
from schema import enums as api
from services import errors
from services.notifications import LEVELS, NotificationKind

# Pairs that must be found below the schema: if one moves or is renamed, the discovery must
# still find it, or this list says it is gone.
MIRRORED = {
    "Locale",
    "Role",
    "RecoveryStatus",
    "DocumentKind",
    "NotificationKind",
    "SecurityEventKind",
}


def lower_enums() -> dict[str, list[type[Enum]]]:
    """Every Enum class defined in a module of models/ or services/, by class name."""
    found: dict[str, list[type[Enum]]] = {}
    for package in (models, services):
        for module_info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            module = importlib.import_module(module_info.name)
            for name, value in vars(module).items():
                if (
                    inspect.isclass(value)
                    and issubclass(value, Enum)
                    and value.__module__ == module.__name__
                ):
                    found.setdefault(name, []).append(value)
    return found


def api_enums() -> dict[str, type[Enum]]:
    return {
        name: value
        for name, value in vars(api).items()
        if inspect.isclass(value) and issubclass(value, Enum) and value.__module__ == api.__name__
    }


def members(enum: type[Enum]) -> dict[str, object]:
    return {member.name: member.value for member in enum}


def mirrored_pairs() -> list[tuple[type[Enum], type[Enum]]]:
    below = lower_enums()
    return [
        (api_enum, twin) for name, api_enum in api_enums().items() for twin in below.get(name, [])
    ]


def test_every_known_mirror_is_found() -> None:
    """Guards the discovery: a pair it stopped seeing would no longer be compared."""
    assert {api_enum.__name__ for api_enum, _ in mirrored_pairs()} >= MIRRORED


@pytest.mark.parametrize(
    ("api_enum", "twin"),
    mirrored_pairs(),
    ids=lambda enum: f"{enum.__module__}.{enum.__name__}",
)
def test_a_mirrored_enum_has_the_api_enums_members_and_values(
    api_enum: type[Enum], twin: type[Enum]
) -> None:
    assert members(twin) == members(api_enum)


def test_every_notification_kind_has_a_level_of_the_api() -> None:
    """Levels are stored as the API's NotificationLevel values, one per kind, and every level
    the API offers is one some notification has."""
    assert set(LEVELS) == set(NotificationKind)
    assert set(LEVELS.values()) == {level.value for level in api.NotificationLevel}


def domain_error_classes() -> list[type[errors.VerrouError]]:
    seen: list[type[errors.VerrouError]] = []
    pending: list[type[errors.VerrouError]] = [errors.VerrouError]
    while pending:
        error = pending.pop()
        seen.append(error)
        pending.extend(error.__subclasses__())
    return seen


def test_every_domain_error_code_is_an_error_code_of_the_api() -> None:
    """resolvers/payload_errors.py looks each code up in ErrorCode: one missing there is an
    unexpected (masked) error instead of a payload error."""
    codes = {error.code for error in domain_error_classes()}
    assert codes <= set(api.ErrorCode.__members__)


def test_every_error_code_of_the_api_is_raised_by_some_domain_error() -> None:
    """A code no domain error carries is a code no client will ever see."""
    codes = {error.code for error in domain_error_classes()}
    assert set(api.ErrorCode.__members__) <= codes
    for code in api.ErrorCode:
        assert code.value == code.name


def test_every_notification_kind_has_an_email_template_in_every_locale() -> None:
    """docs/notifications.md: a new kind needs one template per locale, and no Python. A
    template without its kind (or a kind without its template) is a mirror out of step."""
    templates = Path(services.__file__).parent / "email_templates"
    for locale in api.Locale:
        kinds = {
            path.stem.upper()
            for path in (templates / locale.value).glob("*.txt")
            # Layouts, support's announcements, link emails and a billing contact's verification.
            if not path.stem.startswith(("_", "support_", "link_", "contact_"))
        }
        assert kinds == {kind.value for kind in NotificationKind}, locale
