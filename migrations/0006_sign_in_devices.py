from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0005_link_tokens_remembered_devices')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Session',
            name='remembered_device',
            field=fields.ForeignKeyField('models.RememberedDevice', source_field='remembered_device_id', null=True, db_constraint=True, to_field='id', related_name='sessions', on_delete=OnDelete.SET_NULL),
        ),
    ]
