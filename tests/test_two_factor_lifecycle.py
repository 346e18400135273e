"""The happy path of the whole lifecycle, through the real schema and app."""

from __future__ import annotations

from tests.helpers import Api, error_codes


async def test_enable_then_sign_in_with_totp_and_backup_code(api: Api) -> None:
    token = await api.sign_up()
    assert (await api.status(token))["enabled"] is False

    enabled = await api.enable_two_factor(token)
    assert len(enabled.backup_codes) == 10
    assert len(set(enabled.backup_codes)) == 10
    status = await api.status(token)
    assert status["enabled"] is True
    assert status["method"] == "TOTP"
    assert status["backupCodesRemaining"] == 10

    signed_in = await api.sign_in()
    assert signed_in["session"] is None
    assert signed_in["challenge"]["methods"] == ["TOTP", "BACKUP_CODE"]

    verified = await api.verify(signed_in["challenge"]["token"], api.code(enabled.secret))
    assert error_codes(verified) == []
    assert verified["usedBackupCode"] is False
    assert verified["session"]["account"]["email"] == "alice@example.com"

    with_backup = await api.verify(await api.challenge(), enabled.backup_codes[0])
    assert error_codes(with_backup) == []
    assert with_backup["usedBackupCode"] is True
    assert with_backup["backupCodesRemaining"] == 9
