"""Inputs that once gave a 500 are a 400 naming the field (or a 409 saying why), and the
schema tells the truth about what may be null."""

import json

import pytest

from jobs.models import Job
from portal.api import inputs
from tests.helpers import make_jobs

pytestmark = pytest.mark.django_db(transaction=True)

LISTS = [
    "/api/v1/workspaces/",
    "/api/v1/workspaces/team-a/members/",
    "/api/v1/workspaces/team-a/jobs/",
    "/api/v1/workspaces/team-a/environments/",
    "/api/v1/workspaces/team-a/models/",
    "/api/v1/tokens/",
    "/api/v1/clusters/",
    "/api/v1/instance-types/",
    "/api/v1/compute-targets/",
    "/api/v1/compute-requests/",
]


def errors(response) -> dict:
    assert response.status_code == 400, (response.status_code, response.content[:300])
    return response.json()["errors"]


def test_ids_that_are_not_numbers(client_for):
    itops = client_for("itops")
    assert "id" in errors(itops.post("/api/v1/tokens/abc/revoke/"))
    assert "id" in errors(itops.delete("/api/v1/workspaces/team-a/members/abc/"))
    assert "id" in errors(itops.get("/api/v1/compute-targets/99999999999999999999/"))
    assert "id" in errors(itops.get("/api/v1/instance-types/-1/"))
    assert client_for("anonymous").post("/api/v1/tokens/abc/revoke/").status_code == 401


@pytest.mark.parametrize("url", LISTS)
def test_paging_beyond_what_the_database_holds(client_for, url):
    itops = client_for("itops")
    huge = itops.get(url, {"limit": "99999999999999999999"})
    assert huge.status_code == 200, huge.content[:300]
    assert "limit" in errors(itops.get(url, {"limit": "abc"}))
    assert "offset" in errors(itops.get(url, {"offset": "99999999999999999999"}))


def test_a_page_holds_at_most_the_maximum(client_for, compute_ready, personas):
    make_jobs(compute_ready.targets.get(name="cpu-target"), 1005, created_by=personas["scientist"])
    page = client_for("scientist").get(
        "/api/v1/workspaces/team-a/jobs/", {"limit": "99999999999999999999"}
    )
    assert len(page.json()["results"]) == inputs.MAX_LIMIT


def test_a_target_with_jobs_is_a_conflict_not_a_crash(client_for, compute_ready, personas):
    target = compute_ready.targets.get(name="cpu-target")
    make_jobs(target, 2, created_by=personas["scientist"])
    answer = client_for("itops").delete(f"/api/v1/compute-targets/{target.pk}/")
    assert answer.status_code == 409
    assert "still used by 2 job(s)" in answer.json()["detail"]
    assert Job.objects.filter(compute=target).count() == 2


def test_quotas_beyond_the_integer_columns(client_for, compute_ready):
    target = compute_ready.targets.get(name="cpu-target")
    answer = client_for("itops").post(
        f"/api/v1/compute-targets/{target.pk}/quota/",
        {"quota_gpu": 2**40, "quota_cpu": "1" * 50},
        content_type="application/json",
    )
    assert {"quota_gpu", "quota_cpu"} <= set(errors(answer))


@pytest.mark.parametrize(
    "url",
    ["/api/v1/tokens/", "/api/v1/workspaces/team-a/jobs/", "/api/v1/workspaces/team-a/models/"],
)
def test_json_nested_a_thousand_deep(client_for, url):
    body = '{"name": ' + "[" * 1000 + "]" * 1000 + "}"
    answer = client_for("scientist").post(url, body, content_type="application/json")
    assert answer.status_code == 400
    assert "nested deeper than" in answer.json()["detail"]


def test_job_yaml_nested_five_hundred_deep(client_for, compute_ready):
    text = "type: command\ncommand: echo\ntags:\n  x: " + "[" * 500 + "]" * 500 + "\n"
    answer = client_for("scientist").post(
        "/api/v1/workspaces/team-a/jobs/", {"yaml": text}, content_type="application/json"
    )
    assert answer.status_code == 400
    assert "more than 32 levels deep" in json.dumps(answer.json())


def test_a_tag_key_is_never_a_lookup(client_for, compute_ready, personas):
    target = compute_ready.targets.get(name="cpu-target")
    make_jobs(target, 1, created_by=personas["scientist"], tags={"a": "xbx"})
    make_jobs(target, 1, created_by=personas["scientist"], prefix="odd", tags={"a__contains": "b"})
    client = client_for("scientist")
    found = client.get("/api/v1/workspaces/team-a/jobs/", {"tag": "a__contains=b"})
    assert found.status_code == 200
    assert [j["name"] for j in found.json()["results"]] == ["odd-0"]
    assert client.get("/api/v1/workspaces/team-a/jobs/", {"tag": "a=xbx"}).json()["count"] == 1


def test_a_search_of_a_hundred_thousand_characters(client_for):
    answer = client_for("scientist").get(
        "/api/v1/workspaces/team-a/jobs/", {"search": "x" * 100000}
    )
    assert "search" in errors(answer)
    page = client_for("scientist").get("/jobs/team-a/", {"search": "x" * 100000})
    assert page.status_code in (200, 400)


def test_the_schema_says_which_fields_may_be_null(client_for):
    schema = client_for("itops").get("/api/v1/schema/", {"format": "json"}).json()
    request = schema["components"]["schemas"]["ComputeRequest"]["properties"]
    assert request["reviewed_by"].get("nullable") is True
    assert request["target"].get("nullable") is True
