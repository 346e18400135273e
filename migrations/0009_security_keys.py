from tortoise import migrations
from tortoise.migrations import operations as ops
from models.two_factor import WebAuthnChallengePurpose
from tortoise.fields.base import OnDelete
from tortoise import fields

class DropColumn(ops.RemoveField):
    """RemoveField that drops the column in place (ALTER TABLE ... DROP COLUMN, which SQLite
    has since 3.35) instead of Tortoise's SQLite table rebuild, which loses the unique index
    of two_factor.account_id (a one-to-one)."""

    async def database_forward(self, app_label, old_state, new_state, state_editor=None):
        if state_editor is None:
            return
        model = old_state.apps.get_model(f"{app_label}.{self.model_name}")
        await state_editor._run_sql(
            f'ALTER TABLE "{model._meta.db_table}" DROP COLUMN "{self.name}"'
        )


class Migration(migrations.Migration):
    dependencies = [('models', '0008_billing_contact_verification')]

    initial = False

    operations = [
        ops.CreateModel(
            name='SecurityKey',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('account', fields.ForeignKeyField('models.Account', source_field='account_id', db_constraint=True, to_field='id', related_name='security_keys', on_delete=OnDelete.CASCADE)),
                ('credential_digest', fields.CharField(unique=True, max_length=64)),
                ('credential_id', fields.TextField(unique=False)),
                ('public_key', fields.TextField(unique=False)),
                ('user_handle', fields.CharField(max_length=88)),
                ('sign_count', fields.BigIntField(default=0)),
                ('transports', fields.CharField(default='', max_length=200)),
                ('passkey', fields.BooleanField(default=False)),
                ('backed_up', fields.BooleanField(default=False)),
                ('aaguid', fields.CharField(default='', max_length=36)),
                ('name', fields.CharField(max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('last_used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('flagged_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'security_key', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A WebAuthn credential (security key or passkey) registered as a second factor.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WebAuthnChallenge',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('challenge_hash', fields.CharField(unique=True, max_length=64)),
                ('token_hash', fields.CharField(null=True, unique=True, max_length=64)),
                ('purpose', fields.CharEnumField(description='REGISTER: register\nPASSKEY_SIGN_IN: passkey_sign_in', enum_type=WebAuthnChallengePurpose, max_length=16)),
                ('account', fields.ForeignKeyField('models.Account', source_field='account_id', null=True, db_constraint=True, to_field='id', related_name='webauthn_challenges', on_delete=OnDelete.CASCADE)),
                ('user_handle', fields.CharField(null=True, max_length=88)),
                ('passkey', fields.BooleanField(default=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'webauthn_challenge', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A WebAuthn ceremony outside the sign-in challenge: registering a key, or a passwordless'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Account',
            name='backup_codes_generated_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Account',
            name='two_factor_enabled_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='SignInChallenge',
            name='webauthn_challenge_hash',
            field=fields.CharField(null=True, max_length=64),
        ),
        ops.AlterModelOptions(
            name='TwoFactor',
            options={'table': 'two_factor', 'app': 'models', 'pk_attr': 'id', 'table_description': "An account's TOTP app: pending until the first good code, then active. Whether 2FA is"},
        ),
        # 2FA on is now the account's, whatever turned it on: copy it from the active TOTP apps.
        ops.RunSQL(
            "UPDATE account SET"
            " two_factor_enabled_at = (SELECT COALESCE(t.enabled_at, t.created_at)"
            " FROM two_factor t WHERE t.account_id = account.id AND t.state = 'active'),"
            " backup_codes_generated_at = (SELECT t.backup_codes_generated_at"
            " FROM two_factor t WHERE t.account_id = account.id AND t.state = 'active')",
            reverse_sql="SELECT 1",
        ),
        DropColumn(model_name='TwoFactor', name='backup_codes_generated_at'),
        ops.AddField(
            model_name='TwoFactor',
            name='last_used_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='TwoFactor',
            name='name',
            field=fields.CharField(null=True, max_length=64),
        ),
    ]
