"""Artifacts on an S3-compatible store (the production setting), against a local S3 server
(moto's) that the test starts: the MLflow proxy and the studio read and write the bucket,
each workspace under its own prefix, and a refused upload leaves nothing behind."""

import socket

import boto3
import pytest
from moto.server import ThreadedMotoServer

from portal import services as portal_services
from tracking import store

pytestmark = pytest.mark.django_db

BUCKET = "portal-artifacts"
KEYS = {"aws_access_key_id": "test-key", "aws_secret_access_key": "test-secret"}


@pytest.fixture(scope="module")
def s3_endpoint():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **KEYS).create_bucket(
        Bucket=BUCKET
    )
    yield endpoint
    server.stop()


@pytest.fixture
def s3_storage(settings, s3_endpoint):
    settings.STORAGES = {
        **settings.STORAGES,
        "artifacts": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": s3_endpoint,
                "region_name": "us-east-1",
                "access_key": KEYS["aws_access_key_id"],
                "secret_key": KEYS["aws_secret_access_key"],
                "location": "artifacts",
                "file_overwrite": True,
                "default_acl": None,
                "querystring_auth": False,
            },
        },
    }
    return boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", **KEYS)


def test_artifacts_live_in_the_bucket(client, client_for, personas, team_a, s3_storage, settings):
    experiment = store.experiment_create(team_a, "s3")
    run = store.run_create(experiment=experiment, name="r", user=personas["scientist"])
    token = portal_services.token_create(user=personas["scientist"], name="t")[1]
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    base = f"/mlflow/team-a/api/2.0/mlflow-artifacts/artifacts/{run.artifact_root}"
    for path, body in (("model/weights.bin", b"\x00" * 2048), ("notes.txt", b"from s3")):
        response = client.put(
            f"{base}/{path}", body, content_type="application/octet-stream", **auth
        )
        assert response.status_code == 200, response.content
    keys = {o["Key"] for o in s3_storage.list_objects_v2(Bucket=BUCKET).get("Contents", [])}
    prefix = f"artifacts/ws-{team_a.pk}/{run.artifact_root}"
    assert keys == {f"{prefix}/model/weights.bin", f"{prefix}/notes.txt"}

    listing = client.get(
        "/mlflow/team-a/api/2.0/mlflow-artifacts/artifacts", {"path": run.artifact_root}, **auth
    ).json()["files"]
    assert listing == [
        {"path": "model", "is_dir": True},
        {"path": "notes.txt", "is_dir": False, "file_size": 7},
    ]
    assert b"".join(client.get(f"{base}/notes.txt", **auth).streaming_content) == b"from s3"

    # The studio's Outputs read the same bucket.
    reader = client_for("reader")
    page = reader.get(f"/runs/team-a/{run.run_id}/").content.decode()
    assert "notes.txt" in page and "model/" in page
    preview = reader.get(
        f"/runs/team-a/{run.run_id}/files", {"path": "notes.txt", "preview": "1"}
    ).content.decode()
    assert "from s3" in preview

    # Over the size limit: refused, and nothing half-written stays in the bucket.
    settings.ARTIFACT_MAX_BYTES = 100
    response = client.put(
        f"{base}/big.bin", b"x" * 500, content_type="application/octet-stream", **auth
    )
    assert response.status_code == 413
    keys = {o["Key"] for o in s3_storage.list_objects_v2(Bucket=BUCKET).get("Contents", [])}
    assert f"{prefix}/big.bin" not in keys
