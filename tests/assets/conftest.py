"""Fixtures of the model tests: a storage folder of the test's own, a run with artifacts and
the job whose run it is; helpers to build archives and list what was stored."""

import io
import tarfile

import pytest

from assets import model_files
from tracking import artifacts, store


def tar_gz(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def stored_keys() -> list[str]:
    root = model_files.storage()
    found = []

    def walk(prefix):
        try:
            dirs, files = root.listdir(prefix)
        except FileNotFoundError:
            return
        found.extend(f"{prefix}/{f}" for f in files)
        for d in dirs:
            walk(f"{prefix}/{d}")

    walk("models")
    return found


@pytest.fixture
def model_storage(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "artifacts": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "artifacts"), "allow_overwrite": True},
        },
    }
    from django.core.files.storage import storages

    storages._storages.pop("artifacts", None)
    yield
    storages._storages.pop("artifacts", None)


@pytest.fixture
def run(personas, team_a):
    experiment = store.experiment_create(team_a, "digits")
    made = store.run_create(experiment=experiment, name="train", user=personas["scientist"])
    for path, data in {
        "model/MLmodel": b"flavors: {}\n",
        "model/model.pkl": b"\x80\x04pickle",
        "model/sub/conda.yaml": b"name: x\n",
        "notes.txt": b"hello",
    }.items():
        artifacts.save(team_a.pk, f"{made.artifact_root}/{path}", io.BytesIO(data), len(data))
    return made


@pytest.fixture
def job(run, personas, team_a):
    from compute.models import Cluster, ComputeTarget
    from tests.helpers import make_jobs

    cluster = Cluster.objects.create(name="c", server="https://x", credentials=b"")
    target = ComputeTarget.objects.create(
        workspace=team_a, cluster=cluster, name="t", namespace="t"
    )
    (made,) = make_jobs(target, 1, prefix="train", created_by=personas["scientist"], run=run)
    return made
