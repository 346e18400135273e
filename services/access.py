"""Who may see or do what: the rules, once, for the API's reads and the services' writes.

A viewer is the signed-in account, or None for a request without a session. None is not
"anyone": such a request reaches an account only through the session it has just opened
(signUp, signIn, verifySignIn), which is that account's own.
"""

from __future__ import annotations

from models import Account, RecoveryRequest
from models.accounts import Role
from services.errors import Forbidden, TwoFactorRequired


def is_support(viewer: Account | None) -> bool:
    return viewer is not None and viewer.role == Role.SUPPORT


def require_support(viewer: Account | None) -> None:
    if not is_support(viewer):
        raise Forbidden()


async def require_acting_support(viewer: Account | None) -> Account:
    """Support who act on recoveries (the queue, a decision, a document) hold the keys to
    every customer's 2FA: their own account must have 2FA on, or a stolen support password
    would be enough to take any account over."""
    if viewer is None or not is_support(viewer):
        raise Forbidden()
    if not await Account.exists(id=viewer.id, two_factor_enabled_at__isnull=False):
        raise TwoFactorRequired()
    return viewer


def require_owner(viewer: Account | None, account_id: int) -> None:
    """An account's inbox is its owner's alone: support reaches an account through a recovery
    request to decide it, not to read its mail."""
    if viewer is not None and viewer.id != account_id:
        raise Forbidden()


def require_signed_in_owner(viewer: Account | None, account_id: int) -> Account:
    """The owner, who must be the signed-in account (a notification's `account`)."""
    if viewer is None or viewer.id != account_id:
        raise Forbidden()
    return viewer


def may_see_recovery_request(viewer: Account, request: RecoveryRequest) -> bool:
    """Support sees every request; a customer only their own."""
    return is_support(viewer) or request.account_id == viewer.id
