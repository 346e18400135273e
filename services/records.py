"""The stored records services hand to the API layer, and the enums of their fields.

Resolvers never import `models/`: they read and pass on what services return, and name its
types from here.
"""

from __future__ import annotations

from models import Account as Account
from models import Notification as Notification
from models import RecoveryDocument as RecoveryDocument
from models import RecoveryRequest as RecoveryRequest
from models import SecurityEvent as SecurityEvent
from models import Session as Session
from models.accounts import Locale as Locale
from models.accounts import Role as Role
from models.recovery import RecoveryStatus as RecoveryStatus
from services.authenticators import Authenticator as Authenticator
from services.device_sessions import DeviceSession as DeviceSession

__all__ = [
    "Account",
    "Authenticator",
    "DeviceSession",
    "Locale",
    "Notification",
    "RecoveryDocument",
    "RecoveryRequest",
    "RecoveryStatus",
    "Role",
    "SecurityEvent",
    "Session",
]
