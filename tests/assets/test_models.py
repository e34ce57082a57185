"""Model versions: created from uploads, runs' artifacts (by run id or by job), URLs and
claims; versions given or numbered; references resolved; bad input refused with the field,
nothing half-stored; the allow/deny matrix over the API."""

import io
import json
import tarfile

import pytest
from django.core.exceptions import ValidationError

from assets import model_files
from assets.model_services import Upload, model_create, model_resolve
from assets.models import Model
from portal.errors import Conflict
from tests.assets.conftest import stored_keys, tar_gz
from tracking import artifacts

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("model_storage")]

P = ["anonymous", "itops", "admin", "scientist", "reader", "outsider"]
API = "/api/v1/workspaces/team-a/models/"


def row(*codes):
    return dict(zip(P, codes, strict=True))


def create(user, team, **fields):
    return model_create(workspace=team, user=user, **fields)


def test_a_folder_upload_keeps_its_files_and_versions_count_up(personas, team_a):
    me = personas["scientist"]
    archive = tar_gz({"MLmodel": b"flavors: {}\n", "data/weights.bin": b"\x00" * 10})
    first = create(me, team_a, name="digits", upload=Upload("archive", io.BytesIO(archive)))
    assert (first.version, first.source_kind, first.size) == ("1", "upload", 22)
    assert [f["path"] for f in first.files] == ["MLmodel", "data/weights.bin"]
    with model_files.open_file(first, "data/weights.bin") as handle:
        assert handle.read() == b"\x00" * 10
    second = create(
        me,
        team_a,
        name="digits",
        type="mlflow_model",
        upload=Upload("archive", io.BytesIO(archive)),
    )
    assert second.version == "2"
    create(
        me, team_a, name="digits", version="7", upload=Upload("file", io.BytesIO(b"x"), "m.onnx")
    )
    assert create(me, team_a, name="digits", path="pvc://models/digits").version == "8"


def test_a_version_taken_is_a_conflict_and_stores_nothing(personas, team_a):
    me = personas["scientist"]
    create(me, team_a, name="digits", version="1", upload=Upload("file", io.BytesIO(b"x"), "m.bin"))
    before = stored_keys()
    with pytest.raises(Conflict, match="already has version 1"):
        create(
            me, team_a, name="digits", version="1", upload=Upload("file", io.BytesIO(b"y"), "m.bin")
        )
    assert before and stored_keys() == before and Model.objects.count() == 1


def test_from_a_run_by_id_and_from_a_job_by_name(personas, team_a, run, job):
    me = personas["scientist"]
    by_run = create(
        me, team_a, name="digits", type="mlflow_model", path=f"runs:/{run.run_id}/model"
    )
    assert [f["path"] for f in by_run.files] == ["MLmodel", "model.pkl", "sub/conda.yaml"]
    assert (by_run.run_id, by_run.job_name) == (run.run_id, job.name)  # the job found from the run
    uri = f"azureml://jobs/{job.name}/outputs/artifacts/paths/model/model.pkl"
    one = create(me, team_a, name="pickled", path=uri)
    assert [f["path"] for f in one.files] == ["model.pkl"] and one.source == uri
    assert (one.run_id, one.job_name) == (run.run_id, job.name)
    with model_files.open_file(one, "model.pkl") as handle:
        assert handle.read() == b"\x80\x04pickle"
    # The copy stays when the run's artifacts go.
    artifacts.delete(team_a.pk, run.artifact_root)
    assert model_files.open_file(by_run, "model.pkl").read() == b"\x80\x04pickle"


@pytest.mark.parametrize(
    "path,field,words",
    [
        ("runs:/0123abcd/model", "path", "No run 0123abcd"),
        ("runs:/{run}/nothing-here", "path", "no artifacts under 'nothing-here'"),
        ("azureml://jobs/ghost/outputs/artifacts/paths/model", "path", "No job ghost"),
        ("azureml://jobs/x/outputs/logs", "path", "not a job output path"),
        ("azureml://datastores/blob/paths/m", "path", "not supported"),
        ("runs:/{run}/../../other", "path", "'..'"),
        ("https://user:secret@example.com/m.pkl", "path", "password"),
        ("pvc://Bad_Claim/m", "path", "Kubernetes name"),
        ("s3://bucket/model", "path", "not a path the portal can use"),
        ("", "path", "Say where"),
    ],
)
def test_bad_sources_are_refused_naming_the_field(personas, team_a, run, path, field, words):
    with pytest.raises(ValidationError) as caught:
        create(personas["scientist"], team_a, name="digits", path=path.format(run=run.run_id))
    assert words in " ".join(caught.value.message_dict[field])
    assert not Model.objects.exists() and stored_keys() == []


def test_bad_fields_are_refused_each_by_name(personas, team_a):
    with pytest.raises(ValidationError) as caught:
        create(personas["scientist"], team_a, name="1digits", version="a/b", type="onnx",
               tags=["x"], path="pvc://m/x")  # fmt: skip
    assert set(caught.value.message_dict) == {"name", "version", "type", "tags"}


def test_mlflow_models_need_an_mlmodel_file(personas, team_a, run):
    with pytest.raises(ValidationError) as caught:
        create(personas["scientist"], team_a, name="d", type="mlflow_model",
               path=f"runs:/{run.run_id}/notes.txt")  # fmt: skip
    assert "MLmodel" in caught.value.message_dict["type"][0]
    assert stored_keys() == []


def test_over_the_limit_nothing_is_kept(personas, team_a, settings):
    settings.MODEL_MAX_BYTES = 1000
    archive = tar_gz({"a.bin": b"a" * 600, "b.bin": b"b" * 600})
    with pytest.raises(model_files.TooLarge, match="PORTAL_MODEL_MAX_BYTES"):
        create(
            personas["scientist"],
            team_a,
            name="big",
            upload=Upload("file", io.BytesIO(b"z" * 1001), "z"),
        )
    with pytest.raises((model_files.TooLarge, ValidationError)):
        create(
            personas["scientist"], team_a, name="big", upload=Upload("archive", io.BytesIO(archive))
        )
    assert stored_keys() == [] and not Model.objects.exists()


def test_an_archive_escaping_its_folder_is_refused(personas, team_a):
    bad = tar_gz({"../../etc/passwd": b"x"})
    with pytest.raises(ValidationError) as caught:
        create(personas["scientist"], team_a, name="d", upload=Upload("archive", io.BytesIO(bad)))
    assert "'..'" in caught.value.message_dict["archive"][0]


def test_references_resolve_to_a_version_or_the_latest_not_archived(personas, team_a, team_b):
    me = personas["scientist"]
    for _ in range(3):
        create(me, team_a, name="digits", path="https://example.com/m.pkl")
    assert model_resolve(workspace=team_a, reference="azureml:digits:2").version == "2"
    assert model_resolve(workspace=team_a, reference="azureml:digits@latest").version == "3"
    Model.objects.filter(version="3").update(archived=True)
    assert model_resolve(workspace=team_a, reference="azureml:digits@latest").version == "2"
    assert model_resolve(workspace=team_a, reference="azureml:digits:3").archived
    for ref, words in [
        ("azureml:digits:9", "No model digits:9"),
        ("digits:1", "not a model reference"),
        ("azureml:digits@newest", "not a model reference"),
    ]:
        with pytest.raises(ValidationError, match=words):
            model_resolve(workspace=team_a, reference=ref)
    with pytest.raises(ValidationError, match="No model digits:1 in workspace team-b"):
        model_resolve(workspace=team_b, reference="azureml:digits:1")


# ---- the REST API ----


def test_api_matrix(client_for, personas, team_a, team_b):
    create(personas["admin"], team_a, name="digits", version="1",
           upload=Upload("file", io.BytesIO(b"weights"), "model.bin"))  # fmt: skip
    base = API + "digits/1/"
    reads = [
        (API, row(401, 200, 200, 200, 200, 404)),
        (base, row(401, 200, 200, 200, 200, 404)),
        (API + "digits/@latest/", row(401, 200, 200, 200, 200, 404)),
        (base + "files/model.bin", row(401, 200, 200, 200, 200, 404)),
        (base + "files/nothing.bin", row(401, 404, 404, 404, 404, 404)),
        ("/api/v1/workspaces/team-b/models/digits/1/", row(401, 404, 404, 404, 404, 404)),
    ]
    failures = []
    for url, expected in reads:
        for persona in P:
            got = client_for(persona).get(url).status_code
            if got != expected[persona]:
                failures.append(f"{persona} GET {url}: {got}, expected {expected[persona]}")
    writes = [
        (API, row(401, 403, 201, 201, 403, 404)),
        (base + "archive/", row(401, 403, 200, 200, 403, 404)),
        (base + "restore/", row(401, 403, 200, 200, 403, 404)),
    ]
    for url, expected in writes:
        for persona in P:
            body = {"name": f"m-{persona}", "path": "pvc://models/m"}
            got = client_for(persona).post(url, body, content_type="application/json").status_code
            if got != expected[persona]:
                failures.append(f"{persona} POST {url}: {got}, expected {expected[persona]}")
    assert not failures, "\n".join(failures)


def test_api_upload_show_download_and_archive(client_for):
    client = client_for("scientist")
    archive = tar_gz({"MLmodel": b"flavors: {}\n", "model.pkl": b"pkl"})
    made = client.post(
        API,
        {"name": "digits", "type": "mlflow_model", "tags": json.dumps({"team": "a"}),
         "archive": io.BytesIO(archive)},
    )  # fmt: skip
    assert made.status_code == 201, made.content
    body = made.json()
    assert (body["version"], body["tags"], body["reference"]) == (
        "1",
        {"team": "a"},
        "azureml:digits:1",
    )
    assert body["files"] == [{"path": "MLmodel", "size": 12}, {"path": "model.pkl", "size": 3}]
    file = io.BytesIO(b"onnx")
    file.name = "model.onnx"
    second = client.post(API, {"name": "digits", "version": "2", "file": file})
    assert second.status_code == 201 and second.json()["files"] == [
        {"path": "model.onnx", "size": 4}
    ]
    download = client.get(API + "digits/1/files/model.pkl")
    assert b"".join(download.streaming_content) == b"pkl"
    assert download["Content-Type"] == "application/octet-stream"
    assert "attachment" in download["Content-Disposition"]
    assert client.get(API + "digits/@latest/").json()["version"] == "2"
    assert client.post(API + "digits/2/archive/").json()["archived"] is True
    assert client.get(API + "digits/@latest/").json()["version"] == "1"
    listed = client.get(API).json()["results"]
    assert [m["version"] for m in listed] == ["1"]
    everything = client.get(API + "?include_archived=1").json()["results"]
    assert [m["version"] for m in everything] == ["2", "1"]
    client.post(
        API, {"name": "other", "path": "https://example.com/m.pkl"}, content_type="application/json"
    )
    latest = client.get(API + "?latest=1").json()["results"]
    assert [(m["name"], m["version"]) for m in latest] == [("digits", "1"), ("other", "1")]
    url_model = client.get(API + "other/1/files/m.pkl")
    assert (
        url_model.status_code == 404 and "https://example.com/m.pkl" in url_model.json()["detail"]
    )


def test_api_bad_input_is_400_409_413_with_a_sentence(client_for, settings):
    client = client_for("scientist")
    post = lambda body: client.post(API, body, content_type="application/json")  # noqa: E731
    bad = post({"name": "9lives", "path": "pvc://m/x"})
    assert bad.status_code == 400 and set(bad.json()["errors"]) == {"name"}
    assert post({"name": "m", "tags": "not-json{"}).status_code == 400
    unknown = post({"name": "m", "path": "runs:/feedbeef/model"})
    assert unknown.status_code == 400 and "No run feedbeef" in unknown.json()["errors"]["path"][0]
    assert post({"name": "m", "version": "1", "path": "pvc://m/x"}).status_code == 201
    clash = post({"name": "m", "version": "1", "path": "pvc://m/y"})
    assert clash.status_code == 409 and "already has version 1" in clash.json()["detail"]
    settings.MODEL_MAX_BYTES = 100
    big = io.BytesIO(b"x" * 200)
    big.name = "big.bin"
    refused = client.post(API, {"name": "big", "file": big})
    assert refused.status_code == 413 and "PORTAL_MODEL_MAX_BYTES" in refused.json()["detail"]
    assert not Model.objects.filter(name="big").exists() and stored_keys() == []


def test_the_schema_lists_the_model_endpoints(client_for):
    schema = client_for("reader").get("/api/v1/schema/?format=json")
    paths = json.loads(schema.content)["paths"]
    assert "/api/v1/workspaces/{slug}/models/" in paths
    assert (
        "multipart/form-data"
        in paths["/api/v1/workspaces/{slug}/models/"]["post"]["requestBody"]["content"]
    )
    assert "/api/v1/workspaces/{slug}/models/{name}/{version}/files/{path}" in paths


def test_a_path_named_twice_in_an_archive_is_kept_once(personas, team_a):
    archive = tar_gz({"a.bin": b"first", "./a.bin": b"second"})
    made = create(
        personas["scientist"], team_a, name="twice", upload=Upload("archive", io.BytesIO(archive))
    )
    assert made.files == [{"path": "a.bin", "size": 6}] and made.size == 6
    assert model_files.open_file(made, "a.bin").read() == b"second"


def test_links_in_an_archive_are_followed_inside_it_and_loops_refused(personas, team_a):
    def with_links(links):
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
            info = tarfile.TarInfo("real.bin")
            info.size = 4
            archive.addfile(info, io.BytesIO(b"data"))
            for name, target in links:
                link = tarfile.TarInfo(name)
                link.type, link.linkname = tarfile.SYMTYPE, target
                archive.addfile(link)
        return buffer.getvalue()

    good = with_links([("alias.bin", "real.bin")])
    made = create(
        personas["scientist"], team_a, name="links", upload=Upload("archive", io.BytesIO(good))
    )
    assert made.files == [{"path": "alias.bin", "size": 4}, {"path": "real.bin", "size": 4}]
    loop = with_links([("a", "b"), ("b", "a")])
    with pytest.raises(ValidationError) as caught:
        create(
            personas["scientist"], team_a, name="loop", upload=Upload("archive", io.BytesIO(loop))
        )
    assert "loops" in caught.value.message_dict["archive"][0]
    assert not Model.objects.filter(name="loop").exists()


def test_an_upload_declared_over_the_limit_is_refused_before_it_is_read(client_for, settings):
    settings.MODEL_MAX_BYTES = 10
    big = io.BytesIO(b"x" * (1 << 20) + b"x" * 100)
    big.name = "big.bin"
    refused = client_for("scientist").post(API, {"name": "big", "file": big})
    assert refused.status_code == 413
    assert "over the limit of 10 bytes" in refused.json()["detail"]
    assert stored_keys() == [] and not Model.objects.exists()


def test_a_number_taken_meanwhile_gives_the_next_one(personas, team_a, monkeypatch):
    """Two creations without a version at once: the one that finds its number taken when it
    saves counts again instead of failing."""
    from assets import model_services

    create(personas["scientist"], team_a, name="race", path="pvc://m/1")
    real = model_services._next_version
    stale = iter(["1"])  # what a creation that counted before the other saved would take
    monkeypatch.setattr(
        model_services, "_next_version", lambda ws, name: next(stale, None) or real(ws, name)
    )
    assert create(personas["scientist"], team_a, name="race", path="pvc://m/2").version == "2"
    assert sorted(Model.objects.values_list("version", flat=True)) == ["1", "2"]
