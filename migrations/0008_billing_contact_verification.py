from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0007_recovery_waiting_period')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Account',
            name='billing_contact_verified',
            field=fields.BooleanField(default=False, db_default=False),
        ),
        # Existing rows: a billing contact equal to the account email counts as verified;
        # any other stays unverified until it opens a verification link.
        ops.RunSQL(
            "UPDATE account SET billing_contact_verified = TRUE"
            " WHERE billing_contact_email = email",
            reverse_sql="SELECT 1",
        ),
    ]
