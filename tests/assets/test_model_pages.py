"""The studio's model pages: who sees them, the list, a model's versions, lineage links and
files, downloads and archiving."""

import io

import pytest

from assets.model_services import Upload, model_create
from assets.models import Model
from tests.assets.conftest import tar_gz

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("model_storage")]

P = ["anonymous", "itops", "admin", "scientist", "reader", "outsider"]


def row(*codes):
    return dict(zip(P, codes, strict=True))


@pytest.fixture
def digits(personas, team_a):
    archive = tar_gz({"MLmodel": b"flavors: {}\n", "data/w.bin": b"weights"})
    first = model_create(
        workspace=team_a, user=personas["scientist"], name="digits",
        upload=Upload("archive", io.BytesIO(archive)),
    )  # fmt: skip
    model_create(workspace=team_a, user=personas["scientist"], name="digits",
                 path="https://example.com/digits.onnx")  # fmt: skip
    return first


def test_model_pages_matrix(digits, client_for):
    cases = [
        ("get", "/models/team-a/", row(302, 200, 200, 200, 200, 404)),
        ("get", "/models/team-b/", row(302, 200, 404, 404, 404, 200)),
        ("get", "/models/team-a/digits/", row(302, 200, 200, 200, 200, 404)),
        ("get", "/models/team-a/digits/?version=1", row(302, 200, 200, 200, 200, 404)),
        ("get", "/models/team-a/digits/?version=9", row(302, 404, 404, 404, 404, 404)),
        ("get", "/models/team-b/digits/", row(302, 404, 404, 404, 404, 404)),
        ("get", "/models/team-a/digits/1/files/data/w.bin", row(302, 200, 200, 200, 200, 404)),
        ("get", "/models/team-a/digits/2/files/digits.onnx", row(302, 404, 404, 404, 404, 404)),
        ("post", "/models/team-a/digits/1/archive", row(302, 403, 302, 302, 403, 404)),
    ]
    failures = []
    for method, url, expected in cases:
        for persona in P:
            got = getattr(client_for(persona), method)(url).status_code
            if got != expected[persona]:
                failures.append(f"{persona} {method} {url}: {got}, expected {expected[persona]}")
    assert not failures, "\n".join(failures)


def test_the_list_shows_each_model_with_its_latest_version(digits, client_for, personas, team_a):
    model_create(workspace=team_a, user=personas["scientist"], name="another", path="pvc://m/a")
    page = client_for("reader").get("/models/team-a/").content.decode()
    assert page.index("another") < page.index("digits")
    assert "<td>2</td><td>2</td><td>custom_model</td>" in page  # latest 2 of 2 versions
    home = client_for("reader").get("/").content.decode()
    assert 'href="/models/"' in home  # the nav entry
    assert client_for("reader").get("/models/").url == "/models/team-a/"


def test_the_detail_shows_files_versions_and_lineage(client_for, personas, team_a, run, job):
    made = model_create(workspace=team_a, user=personas["scientist"], name="trained",
                        path=f"runs:/{run.run_id}/model")  # fmt: skip
    page = client_for("reader").get("/models/team-a/trained/").content.decode()
    assert f'href="/jobs/team-a/{job.name}/"' in page
    assert f'href="/runs/team-a/{run.run_id}/"' in page
    assert 'href="/models/team-a/trained/1/files/model.pkl"' in page
    assert "azureml:trained:1" in page and "azureml:trained@latest" in page
    assert "Archive version 1" not in page  # readers may not
    download = client_for("reader").get(f"/models/team-a/trained/1/files/{made.files[1]['path']}")
    assert b"".join(download.streaming_content) == b"\x80\x04pickle"
    assert download["Content-Security-Policy"] == "default-src 'none'; sandbox"


def test_archiving_from_the_page_hides_the_version_from_latest(digits, client_for):
    client = client_for("scientist")
    page = client.get("/models/team-a/digits/").content.decode()
    assert "Version 2" in page and "Archive version 2" in page
    response = client.post("/models/team-a/digits/2/archive", {"archived": "1"})
    assert response.status_code == 302 and response.url == "/models/team-a/digits/?version=2"
    assert Model.objects.get(version="2").archived
    page = client.get("/models/team-a/digits/").content.decode()
    assert "<h2>Version 1</h2>" in page and "Restore" not in page
    assert "archived" in client.get("/models/team-a/digits/?version=2").content.decode()
    client.post("/models/team-a/digits/2/archive", {"archived": "0"})
    assert not Model.objects.get(version="2").archived
