"""Security keys and passkeys: registration, the authenticators list, and key sign-ins."""

from __future__ import annotations

from dataclasses import dataclass

from resolvers.context import Info
from resolvers.errors import signed_in
from resolvers.sessions import OpenedSession, VerifiedSignIn, opened, shown_sign_in
from services import authenticators, key_sign_in, security_keys
from services.errors import NotFound
from services.key_sign_in import PasskeySignIn
from services.records import Account, Authenticator
from services.security_keys import Registration


@dataclass(frozen=True)
class AddedKey:
    authenticator: Authenticator
    account: Account
    backup_codes: list[str] | None


async def start_registration(info: Info, *, password: str, passkey: bool) -> Registration:
    account, _ = signed_in(info)
    context = info.context
    return await security_keys.start(context.runtime, account, password, passkey, context.meta)


async def finish_registration(info: Info, *, credential: object, name: str) -> AddedKey:
    account, _ = signed_in(info)
    context = info.context
    registered = await security_keys.finish(
        context.runtime, account, credential, name, context.meta
    )
    added = await authenticators.find_own(account, authenticators.SECURITY_KEY, registered.key.id)
    if added is None:  # removed between its registration and this answer
        raise NotFound(field="credential")
    return AddedKey(added, account, registered.backup_codes)


def _own(kind: str | None, pk: int | None) -> tuple[str, int]:
    """The (kind, key) of an Authenticator id; NOT_FOUND for an id that is not one."""
    if kind is None or pk is None:
        raise NotFound(field="id")
    return kind, pk


async def rename(info: Info, *, kind: str | None, pk: int | None, name: str) -> Authenticator:
    account, _ = signed_in(info)
    found_kind, found_pk = _own(kind, pk)
    return await authenticators.rename(account, found_kind, found_pk, name)


async def remove(
    info: Info, *, kind: str | None, pk: int | None, password: str, confirm: bool
) -> Account:
    account, _ = signed_in(info)
    found_kind, found_pk = _own(kind, pk)
    context = info.context
    await authenticators.remove(
        context.runtime, account, found_kind, found_pk, password, confirm, context.meta
    )
    return account


async def verify_sign_in(
    info: Info, *, challenge_token: str, credential: object, remember_device: bool
) -> VerifiedSignIn:
    verified = await key_sign_in.verify_second_step(
        info.context.runtime,
        info.context.meta,
        token=challenge_token,
        credential=credential,
        remember_device=remember_device,
    )
    return shown_sign_in(info, verified)


async def start_passkey_sign_in(info: Info) -> PasskeySignIn:
    return await key_sign_in.start_passkey(info.context.runtime, info.context.meta)


async def finish_passkey_sign_in(info: Info, *, token: str, credential: object) -> OpenedSession:
    issued = await key_sign_in.finish_passkey(
        info.context.runtime, info.context.meta, token=token, credential=credential
    )
    return opened(info, issued)
