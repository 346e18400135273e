from tortoise import migrations
from tortoise.migrations import operations as ops
from models.recovery import DocumentKind, RecoveryStatus
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0002_outbox_email')]

    initial = False

    operations = [
        ops.CreateModel(
            name='RecoveryRequest',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('account', fields.ForeignKeyField('models.Account', source_field='account_id', db_constraint=True, to_field='id', related_name='recovery_requests', on_delete=OnDelete.CASCADE)),
                ('status', fields.CharEnumField(default=RecoveryStatus.PENDING, description='PENDING: PENDING\nAPPROVED: APPROVED\nREJECTED: REJECTED', enum_type=RecoveryStatus, max_length=16)),
                ('open_for', fields.IntField(null=True, unique=True)),
                ('message', fields.TextField(null=True, unique=False)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('resolved_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('resolution_note', fields.TextField(null=True, unique=False)),
                ('reviewer', fields.ForeignKeyField('models.Account', source_field='reviewer_id', null=True, db_constraint=True, to_field='id', related_name='reviewed_requests', on_delete=OnDelete.SET_NULL)),
                ('documents_purged_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'recovery_request', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A customer without a second factor asks support to turn 2FA off.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RecoveryDocument',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('request', fields.ForeignKeyField('models.RecoveryRequest', source_field='request_id', db_constraint=True, to_field='id', related_name='documents', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharEnumField(description='IDENTITY: IDENTITY\nCOMPANY_REGISTRATION: COMPANY_REGISTRATION', enum_type=DocumentKind, max_length=32)),
                ('file_name', fields.CharField(max_length=255)),
                ('content_type', fields.CharField(max_length=64)),
                ('size', fields.IntField()),
                ('storage_name', fields.CharField(unique=True, max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'recovery_document', 'app': 'models', 'pk_attr': 'id', 'table_description': 'An uploaded document, encrypted at rest under a random file name.'},
            bases=['Model'],
        ),
    ]
