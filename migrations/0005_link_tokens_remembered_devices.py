from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0004_backup_code_account_index')]

    initial = False

    operations = [
        ops.CreateModel(
            name='LinkToken',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('account', fields.ForeignKeyField('models.Account', source_field='account_id', db_constraint=True, to_field='id', related_name='link_tokens', on_delete=OnDelete.CASCADE)),
                ('purpose', fields.CharField(max_length=32)),
                ('subject', fields.CharField(null=True, max_length=254)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'link_token', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A single-use token sent in an email link (verify a billing contact, reset a password,'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RememberedDevice',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('account', fields.ForeignKeyField('models.Account', source_field='account_id', db_constraint=True, to_field='id', related_name='remembered_devices', on_delete=OnDelete.CASCADE)),
                ('binding', fields.CharField(max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('ip_address', fields.CharField(null=True, max_length=45)),
                ('user_agent', fields.CharField(null=True, max_length=512)),
            ],
            options={'table': 'remembered_device', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A browser or app that skips the second factor at sign-in until `expires_at` (fixed:'},
            bases=['Model'],
        ),
    ]
