from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0003_recovery')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='BackupCode',
            index=Index(fields=['account_id', 'used_at']),
        ),
    ]
