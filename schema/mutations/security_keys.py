"""startSecurityKeyRegistration, finishSecurityKeyRegistration, renameAuthenticator,
removeAuthenticator, verifySignInWithSecurityKey, startPasskeySignIn, finishPasskeySignIn."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from resolvers import security_keys
from resolvers.context import Info
from resolvers.queries import KINDS_OF_GLOBAL
from schema.global_id import from_global_id
from schema.mutations.sessions import verify_payload
from schema.payload_errors import payload_errors
from schema.payloads import VerifySignInPayload
from schema.security_keys import (
    FinishPasskeySignInInput,
    FinishPasskeySignInPayload,
    FinishSecurityKeyRegistrationInput,
    FinishSecurityKeyRegistrationPayload,
    PasskeySignIn,
    RemoveAuthenticatorInput,
    RemoveAuthenticatorPayload,
    RenameAuthenticatorInput,
    RenameAuthenticatorPayload,
    SecurityKeyRegistration,
    StartPasskeySignInPayload,
    StartSecurityKeyRegistrationInput,
    StartSecurityKeyRegistrationPayload,
    VerifySignInWithSecurityKeyInput,
)


def _authenticator(global_id: str) -> tuple[str | None, int | None]:
    decoded = from_global_id(global_id)
    if decoded is None or decoded[0] not in KINDS_OF_GLOBAL:
        return None, None
    return KINDS_OF_GLOBAL[decoded[0]], decoded[1]


@payload_errors(StartSecurityKeyRegistrationPayload)
async def start_registration(
    info: Info,
    input: Annotated[
        StartSecurityKeyRegistrationInput,
        strawberry.argument(description="The password again, and whether to make a passkey."),
    ],
) -> StartSecurityKeyRegistrationPayload:
    registration = await security_keys.start_registration(
        info, password=input.password, passkey=bool(input.passkey)
    )
    return StartSecurityKeyRegistrationPayload(
        registration=SecurityKeyRegistration(
            options=JSON(registration.options), expires_at=registration.expires_at
        )
    )


@payload_errors(FinishSecurityKeyRegistrationPayload)
async def finish_registration(
    info: Info,
    input: Annotated[
        FinishSecurityKeyRegistrationInput,
        strawberry.argument(description="The browser's new credential and its name."),
    ],
) -> FinishSecurityKeyRegistrationPayload:
    added = await security_keys.finish_registration(
        info, credential=input.credential, name=input.name
    )
    return FinishSecurityKeyRegistrationPayload(
        authenticator=added.authenticator, account=added.account, backup_codes=added.backup_codes
    )


@payload_errors(RenameAuthenticatorPayload)
async def rename(
    info: Info,
    input: Annotated[
        RenameAuthenticatorInput, strawberry.argument(description="Which one, and its new name.")
    ],
) -> RenameAuthenticatorPayload:
    kind, pk = _authenticator(input.id)
    renamed = await security_keys.rename(info, kind=kind, pk=pk, name=input.name)
    return RenameAuthenticatorPayload(authenticator=renamed)


@payload_errors(RemoveAuthenticatorPayload)
async def remove(
    info: Info,
    input: Annotated[
        RemoveAuthenticatorInput,
        strawberry.argument(description="Which one, the password and the second confirmation."),
    ],
) -> RemoveAuthenticatorPayload:
    kind, pk = _authenticator(input.id)
    account = await security_keys.remove(
        info, kind=kind, pk=pk, password=input.password, confirm=input.confirm
    )
    return RemoveAuthenticatorPayload(account=account)


@payload_errors(VerifySignInPayload)
async def verify_sign_in(
    info: Info,
    input: Annotated[
        VerifySignInWithSecurityKeyInput,
        strawberry.argument(description="The challenge token of signIn and the key's answer."),
    ],
) -> VerifySignInPayload:
    verified = await security_keys.verify_sign_in(
        info,
        challenge_token=input.challenge_token,
        credential=input.credential,
        remember_device=bool(input.remember_device),
    )
    return verify_payload(verified)


@payload_errors(StartPasskeySignInPayload)
async def start_passkey_sign_in(info: Info) -> StartPasskeySignInPayload:
    started = await security_keys.start_passkey_sign_in(info)
    return StartPasskeySignInPayload(
        passkey_sign_in=PasskeySignIn(
            token=started.token, options=JSON(started.options), expires_at=started.expires_at
        )
    )


@payload_errors(FinishPasskeySignInPayload)
async def finish_passkey_sign_in(
    info: Info,
    input: Annotated[
        FinishPasskeySignInInput,
        strawberry.argument(
            description="The token of startPasskeySignIn and the passkey's answer."
        ),
    ],
) -> FinishPasskeySignInPayload:
    session = await security_keys.finish_passkey_sign_in(
        info, token=input.token, credential=input.credential
    )
    return FinishPasskeySignInPayload(session=session)
