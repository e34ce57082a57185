# Jobs store what compute admitted them with. Jobs submitted before get it from their
# cluster's instance type of that name as it is now (the built-in default when it is gone),
# which is what their objects were rendered from until now.

from django.db import migrations, models

DEFAULT = {
    "instance_type": "defaultinstancetype",
    "requests": {"cpu": "100m", "memory": "2Gi"},
    "limits": {"cpu": "2", "memory": "2Gi"},
    "node_selector": {},
}


def fill(apps, schema_editor):
    Job = apps.get_model("jobs", "Job")
    InstanceType = apps.get_model("compute", "InstanceType")
    types = {
        (row.cluster_id, row.name): row
        for row in InstanceType.objects.all().only("cluster_id", "name", "requests", "limits", "node_selector")
    }
    for job in Job.objects.filter(admission={}).select_related("compute").iterator():
        row = types.get((job.compute.cluster_id, job.instance_type))
        admission = dict(DEFAULT)
        if row is not None:
            admission = {
                "instance_type": row.name,
                "requests": row.requests,
                "limits": row.limits,
                "node_selector": row.node_selector,
            }
        admission |= {"instance_count": job.instance_count, "tolerations": []}
        Job.objects.filter(pk=job.pk).update(admission=admission)


class Migration(migrations.Migration):
    dependencies = [
        ("compute", "0001_initial"),
        ("jobs", "0005_move_environments_to_assets"),
    ]

    operations = [
        migrations.AddField(
            model_name="job",
            name="admission",
            field=models.JSONField(default=dict),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
