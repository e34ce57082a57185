# Environments and code archives move here from the jobs app. Their rows stay where they
# are: the models are taken over as they stand (state only), then their tables renamed.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("jobs", "0004_instancelog_cursor"),
        ("portal", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="CodeArchive",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("sha256", models.CharField(max_length=64)),
                        ("size", models.PositiveBigIntegerField()),
                        ("files", models.PositiveIntegerField()),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("uploaded_by", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to=settings.AUTH_USER_MODEL)),
                        ("workspace", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="code_archives", to="portal.workspace")),
                    ],
                    options={
                        "db_table": "jobs_codearchive",
                        "constraints": [models.UniqueConstraint(fields=("workspace", "sha256"), name="code_per_workspace")],
                    },
                ),
                migrations.CreateModel(
                    name="Environment",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("name", models.CharField(max_length=255)),
                        ("version", models.CharField(max_length=64)),
                        ("image", models.CharField(max_length=500)),
                        ("description", models.TextField(blank=True)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("created_by", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to=settings.AUTH_USER_MODEL)),
                        ("workspace", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="environments", to="portal.workspace")),
                    ],
                    options={
                        "db_table": "jobs_environment",
                        "ordering": ["name", "-created_at"],
                        "constraints": [models.UniqueConstraint(fields=("workspace", "name", "version"), name="environment_version")],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.AlterModelTable(name="codearchive", table=None),
        migrations.AlterModelTable(name="environment", table=None),
    ]
