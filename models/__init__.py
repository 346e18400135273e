"""Tortoise models of Verrou, and nothing else."""

from models.accounts import Account, LinkToken, RememberedDevice, Session, SignInChallenge
from models.activity import FailedAttempt, Notification, SecurityEvent
from models.outbox import OutboxEmail
from models.recovery import RecoveryDocument, RecoveryRequest
from models.two_factor import BackupCode, SecurityKey, TwoFactor, WebAuthnChallenge

__all__ = [
    "Account",
    "BackupCode",
    "FailedAttempt",
    "LinkToken",
    "Notification",
    "OutboxEmail",
    "RecoveryDocument",
    "RecoveryRequest",
    "RememberedDevice",
    "SecurityEvent",
    "SecurityKey",
    "Session",
    "SignInChallenge",
    "TwoFactor",
    "WebAuthnChallenge",
]
