# Environments and code archives now belong to the assets app, which took over their
# tables (assets 0001); here they only leave the jobs app's model state.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0004_instancelog_cursor"),
        ("assets", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="CodeArchive"),
                migrations.DeleteModel(name="Environment"),
            ],
            database_operations=[],
        ),
    ]
