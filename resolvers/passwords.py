"""changePassword, requestPasswordReset, resetPassword, secureAccount."""

from __future__ import annotations

from resolvers.context import Info
from resolvers.errors import signed_in
from resolvers.sessions import OpenedSession, opened
from services import password_changes, password_reset, secure_account
from services.accounts import IssuedChallenge, IssuedSession
from services.records import Account


async def change_password(
    info: Info, *, current_password: str, new_password: str, sign_out_other_sessions: bool
) -> Account:
    account, session = signed_in(info)
    await password_changes.change_password(
        info.context.runtime,
        account,
        session,
        info.context.meta,
        current_password=current_password,
        new_password=new_password,
        sign_out_other_sessions=sign_out_other_sessions,
    )
    return account


async def request_password_reset(info: Info, *, email: str) -> None:
    await password_reset.request_reset(info.context.runtime, info.context.meta, email=email)


async def reset_password(
    info: Info, *, token: str, new_password: str
) -> OpenedSession | IssuedChallenge:
    """A session when the account has no 2FA, else the challenge of the second step."""
    result = await password_reset.reset_password(
        info.context.runtime, info.context.meta, token=token, new_password=new_password
    )
    return opened(info, result) if isinstance(result, IssuedSession) else result


async def secure(info: Info, *, token: str) -> None:
    await secure_account.secure_account(info.context.runtime, info.context.meta, token=token)
