from tortoise import migrations
from tortoise.migrations import operations as ops
from models.recovery import RecoveryStatus
from tortoise import fields


class EnumValuesAdded(ops.AlterField):
    """SCHEDULED and CANCELLED are new values of the same CHAR(16) column: nothing changes
    in the database, only the migration state learns them. (Tortoise's AlterField rebuilds
    the table on SQLite and loses its indexes on the way.)"""

    async def database_forward(self, *args, **kwargs) -> None:
        return None

    async def database_backward(self, *args, **kwargs) -> None:
        return None


class Migration(migrations.Migration):
    dependencies = [('models', '0006_sign_in_devices')]

    initial = False

    operations = [
        EnumValuesAdded(
            model_name='RecoveryRequest',
            name='status',
            field=fields.CharEnumField(default=RecoveryStatus.PENDING, description='PENDING: PENDING\nAPPROVED: APPROVED\nREJECTED: REJECTED\nSCHEDULED: SCHEDULED\nCANCELLED: CANCELLED', enum_type=RecoveryStatus, max_length=16),
        ),
        ops.AddField(
            model_name='RecoveryRequest',
            name='effective_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
