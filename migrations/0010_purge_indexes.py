from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index


class IndexField(ops.AlterField):
    """AlterField that only adds (or, backwards, drops) the column's index with CREATE INDEX,
    instead of Tortoise's SQLite table rebuild, which leaves the new index out."""

    async def database_forward(self, app_label, old_state, new_state, state_editor=None):
        if state_editor is None:
            return
        model = new_state.apps.get_model(f"{app_label}.{self.model_name}")
        await state_editor.add_index(model, Index(fields=(self.name,)))

    async def database_backward(self, app_label, old_state, new_state, state_editor=None):
        if state_editor is None:
            return
        model = old_state.apps.get_model(f"{app_label}.{self.model_name}")
        await state_editor.remove_index(model, Index(fields=(self.name,)))


# The purge (services/purge.py) deletes by these columns.
class Migration(migrations.Migration):
    dependencies = [('models', '0009_security_keys')]

    initial = False

    operations = [
        IndexField(
            model_name='OutboxEmail',
            name='failed_at',
            field=fields.DatetimeField(null=True, db_index=True, auto_now=False, auto_now_add=False),
        ),
        IndexField(
            model_name='OutboxEmail',
            name='sent_at',
            field=fields.DatetimeField(null=True, db_index=True, auto_now=False, auto_now_add=False),
        ),
        IndexField(
            model_name='RememberedDevice',
            name='expires_at',
            field=fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False),
        ),
        IndexField(
            model_name='Session',
            name='expires_at',
            field=fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False),
        ),
        IndexField(
            model_name='Session',
            name='last_seen_at',
            field=fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False),
        ),
        IndexField(
            model_name='Session',
            name='revoked_at',
            field=fields.DatetimeField(null=True, db_index=True, auto_now=False, auto_now_add=False),
        ),
        IndexField(
            model_name='SignInChallenge',
            name='expires_at',
            field=fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False),
        ),
    ]
