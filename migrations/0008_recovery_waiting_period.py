from tortoise import migrations
from tortoise.migrations import operations as ops
from models.recovery import RecoveryStatus
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0005_link_tokens_remembered_devices')]

    initial = False

    operations = [
        ops.AlterField(
            model_name='RecoveryRequest',
            name='status',
            field=fields.CharEnumField(default=RecoveryStatus.PENDING, description='PENDING: PENDING\nAPPROVED: APPROVED\nREJECTED: REJECTED\nSCHEDULED: SCHEDULED\nCANCELLED: CANCELLED', enum_type=RecoveryStatus, max_length=16),
        ),
        ops.AddField(
            model_name='RecoveryRequest',
            name='effective_at',
            field=fields.DatetimeField(null=True, db_index=True, auto_now=False, auto_now_add=False),
        ),
    ]
