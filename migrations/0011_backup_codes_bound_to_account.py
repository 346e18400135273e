import hashlib
import hmac
import re

from tortoise import migrations
from tortoise.migrations import operations as ops

# Backup-code digests bound to their account (issue 17, item 4): each stored digest d, an
# HMAC of the code under the key ring, becomes HMAC-SHA256(key=d, CONTEXT \x00 account id),
# services.crypto.bind_to_account as of this migration (copied: a migration does not change
# when the service does; tests/test_known_answers.py checks that both still agree). Needs
# neither the keys nor the codes, so every existing row is bound here and no unbound digest
# is left for a query that forgot `account_id=` to match. One way only: a digest cannot be
# unbound, so rolling back means regenerating the codes.
CONTEXT = b"verrou/backup-code-account/v2"
BATCH = 500
HEX_DIGEST = re.compile(r"[0-9a-f]{64}")


def bind(account_id: int, digest: str) -> str:
    message = CONTEXT + b"\x00" + str(account_id).encode("ascii")
    return hmac.new(bytes.fromhex(digest), message, hashlib.sha256).hexdigest()


async def bind_stored_digests(apps, schema_editor) -> None:
    client = schema_editor.client
    last_id = 0
    while True:
        _, rows = await client.execute_query(
            "SELECT id, account_id, digest FROM backup_code"
            f" WHERE id > {int(last_id)} ORDER BY id LIMIT {BATCH}"
        )
        if not rows:
            return
        updates = []
        for row in rows:
            row_id, account_id, digest = int(row["id"]), int(row["account_id"]), row["digest"]
            # Only what 0010's code wrote; the values are checked, so they can be inlined.
            if HEX_DIGEST.fullmatch(digest):
                bound = bind(account_id, digest)
                updates.append(f"UPDATE backup_code SET digest = '{bound}' WHERE id = {row_id};")
        if updates:
            await client.execute_script("\n".join(updates))
        last_id = int(rows[-1]["id"])


class Migration(migrations.Migration):
    dependencies = [("models", "0010_purge_indexes")]

    initial = False

    operations = [
        ops.RunPython(bind_stored_digests),
    ]
