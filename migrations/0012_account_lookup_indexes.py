from tortoise import migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

# Neither SQLite nor PostgreSQL indexes a foreign key by itself: each lookup of one account's
# rows below walked the whole table (every sign-in read every account's sign-ins of the last
# 90 days through the created_at index), and the purge's deletion of each expired remembered
# device walked every session to unlink it. tests/test_query_plans.py checks the plans.


class Migration(migrations.Migration):
    dependencies = [("models", "0011_backup_codes_bound_to_account")]

    initial = False

    operations = [
        ops.AddIndex(
            model_name="SecurityEvent",
            index=Index(fields=["account_id", "kind", "created_at"]),
        ),
        ops.AddIndex(model_name="Notification", index=Index(fields=["account_id", "read_at"])),
        ops.AddIndex(model_name="Session", index=Index(fields=["account_id", "revoked_at"])),
        ops.AddIndex(model_name="Session", index=Index(fields=["remembered_device_id"])),
        ops.AddIndex(model_name="SignInChallenge", index=Index(fields=["account_id", "used_at"])),
        ops.AddIndex(
            model_name="LinkToken", index=Index(fields=["account_id", "purpose", "used_at"])
        ),
        ops.AddIndex(model_name="RememberedDevice", index=Index(fields=["account_id"])),
        ops.AddIndex(model_name="SecurityKey", index=Index(fields=["account_id"])),
        ops.AddIndex(model_name="WebAuthnChallenge", index=Index(fields=["account_id"])),
        ops.AddIndex(model_name="RecoveryRequest", index=Index(fields=["account_id", "status"])),
        ops.AddIndex(model_name="RecoveryDocument", index=Index(fields=["request_id"])),
    ]
