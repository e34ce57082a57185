"""Stored credentials are sealed together with the server URL they were given for, so a
server changed without new credentials never receives them. Rows stored before keep working:
their credentials are sealed with the server they have now."""

from django.db import migrations

from compute import credentials


def seal(apps, schema_editor):
    Cluster = apps.get_model("compute", "Cluster")
    for cluster in Cluster.objects.all():
        try:
            data = credentials.decrypt(bytes(cluster.credentials))
        except credentials.CredentialsError:
            continue  # unreadable with these keys: refused until attached again
        if "server" in data:
            continue
        cluster.credentials = credentials.seal(cluster.server, data)
        cluster.save(update_fields=["credentials"])


class Migration(migrations.Migration):
    dependencies = [("compute", "0002_cluster_lease")]

    operations = [migrations.RunPython(seal, migrations.RunPython.noop)]
