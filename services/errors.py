"""Domain errors: the expected failures of Verrou's services.

Every error a service raises on purpose is one of these. The API layer turns each into a
payload `UserError` whose `code` is the error's `code`; anything else is unexpected and masked.

VerrouError
├── InvalidInput                 bad input (field name and message key)
├── Unauthenticated              no valid session
├── Forbidden                    signed in, but not allowed
├── NotFound
├── EmailTaken
├── InvalidCredentials           wrong email or password (never says which)
├── RateLimited                  too many failures; carries retry_after seconds
├── TwoFactorAlreadyEnabled
├── TwoFactorNotEnabled
├── NoPendingSetup
├── SetupExpired
├── ConfirmationRequired
├── FileTooLarge                 an upload over the size limit
├── UnsupportedFileType          an upload that is not a PDF, JPEG or PNG
├── AlreadyResolved              a recovery request answered already
├── TwoFactorRequired            the acting account needs 2FA of its own (support staff)
├── LinkExpired                  an emailed link's token unknown, used or expired
├── SecurityKeyRejected          a security key's or passkey's answer did not verify
├── PersistedQueryNotAllowed     a document outside the trusted documents (TRUSTED_DOCUMENTS_ONLY)
└── SecondFactorError
    ├── InvalidCode              wrong TOTP or backup code
    ├── CodeAlreadyUsed          a TOTP step at or before the last accepted one
    └── ChallengeExpired         sign-in challenge unknown, used, expired or out of attempts

`field` names the input a refusal is about in the domain's words, snake_case and free of any
transport: `"billing_contact_email"`, `"challenge_token"`, `"ids.2"` for the third item of
`ids`. `WHOLE_INPUT` refuses the input as a whole rather than any one part of it (a
recovery request while another is pending); None means the error is about no input at all.
Callers say it in their own terms: the API as `["input", "billingContactEmail"]`
(resolvers/error_fields.py), the command line as its option.
"""

from __future__ import annotations

from typing import Final

WHOLE_INPUT: Final = "*"


class VerrouError(Exception):
    """Base of every expected failure. `code` is the contract's ErrorCode name."""

    code = "INVALID_INPUT"

    def __init__(
        self,
        message_key: str | None = None,
        *,
        field: str | None = None,
        params: dict[str, object] | None = None,
    ) -> None:
        self.message_key = message_key or self.code
        self.field = field
        self.params = params or {}
        super().__init__(self.message_key)


class InvalidInput(VerrouError):
    code = "INVALID_INPUT"


class Unauthenticated(VerrouError):
    code = "UNAUTHENTICATED"


class Forbidden(VerrouError):
    code = "FORBIDDEN"


class NotFound(VerrouError):
    code = "NOT_FOUND"


class EmailTaken(VerrouError):
    code = "EMAIL_TAKEN"


class InvalidCredentials(VerrouError):
    code = "INVALID_CREDENTIALS"


class RateLimited(VerrouError):
    code = "RATE_LIMITED"

    def __init__(self, retry_after: int) -> None:
        super().__init__(params={"seconds": retry_after})
        self.retry_after = retry_after


class TwoFactorAlreadyEnabled(VerrouError):
    code = "TWO_FACTOR_ALREADY_ENABLED"


class TwoFactorNotEnabled(VerrouError):
    code = "TWO_FACTOR_NOT_ENABLED"


class NoPendingSetup(VerrouError):
    code = "NO_PENDING_SETUP"


class SetupExpired(VerrouError):
    code = "SETUP_EXPIRED"


class ConfirmationRequired(VerrouError):
    code = "CONFIRMATION_REQUIRED"


class FileTooLarge(VerrouError):
    code = "FILE_TOO_LARGE"


class UnsupportedFileType(VerrouError):
    code = "UNSUPPORTED_FILE_TYPE"


class AlreadyResolved(VerrouError):
    code = "ALREADY_RESOLVED"


class SecondFactorError(VerrouError):
    """A second factor was refused."""


class InvalidCode(SecondFactorError):
    code = "INVALID_CODE"


class CodeAlreadyUsed(SecondFactorError):
    code = "CODE_ALREADY_USED"


class ChallengeExpired(SecondFactorError):
    code = "CHALLENGE_EXPIRED"


class TwoFactorRequired(VerrouError):
    code = "TWO_FACTOR_REQUIRED"


class LinkExpired(VerrouError):
    code = "LINK_EXPIRED"


class SecurityKeyRejected(VerrouError):
    code = "SECURITY_KEY_REJECTED"


class PersistedQueryNotAllowed(VerrouError):
    code = "PERSISTED_QUERY_NOT_ALLOWED"
