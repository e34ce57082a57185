"""Allow/deny matrix for every compute page, endpoint and websocket group."""

import pytest

from compute import services
from compute.models import ComputeTarget, InstanceType
from portal import live

pytestmark = pytest.mark.django_db(transaction=True)

P = ["anonymous", "itops", "admin", "scientist", "reader", "outsider"]


def row(anonymous, itops, admin, scientist, reader, outsider):
    return dict(zip(P, (anonymous, itops, admin, scientist, reader, outsider), strict=True))


@pytest.fixture
def world(attach, team_a, team_b, personas):
    cluster = attach("sim")
    services.target_create(
        workspace=team_a,
        cluster=cluster,
        name="a-target",
        namespace="team-a",
        create_namespace=True,
    )
    services.target_create(
        workspace=team_b,
        cluster=cluster,
        name="b-target",
        namespace="team-b",
        create_namespace=True,
    )
    return cluster


def doomed(cluster, persona: str) -> InstanceType:
    """An instance type of its own for each persona's delete: every persona deletes a row
    that exists, whatever the personas before it did."""
    return InstanceType.objects.create(
        cluster=cluster,
        name=f"doomed-{persona}",
        requests={"cpu": "1", "memory": "1Gi"},
        limits={"cpu": "1", "memory": "1Gi"},
        sync_state="in_cluster",
    )


def delete_url(cluster):
    return lambda persona: f"/api/v1/instance-types/{doomed(cluster, persona).pk}/"


def cases(cluster):
    target_b = ComputeTarget.objects.get(name="b-target")
    it = InstanceType.objects.get(cluster=cluster, name="defaultinstancetype")
    itops_page = row(302, 200, 403, 403, 403, 403)
    itops_api = row(401, 200, 403, 403, 403, 403)
    return [
        ("get", "/clusters/", itops_page),
        ("get", f"/clusters/{cluster.name}/", itops_page),
        ("post", f"/clusters/{cluster.name}/recheck", row(302, 302, 403, 403, 403, 403)),
        ("get", "/instance-types/", itops_page),
        ("get", f"/instance-types/{it.pk}/edit", itops_page),
        ("get", "/compute-targets/", itops_page),
        ("get", f"/compute-targets/{target_b.pk}/quota", itops_page),
        ("get", "/compute/", row(302, 200, 200, 200, 200, 200)),
        ("get", "/api/v1/clusters/", itops_api),
        ("get", f"/api/v1/clusters/{cluster.name}/", itops_api),
        ("post", "/api/v1/clusters/", row(401, 400, 403, 403, 403, 403)),
        ("get", "/api/v1/compute-targets/", row(401, 200, 200, 200, 200, 200)),
        ("get", f"/api/v1/compute-targets/{target_b.pk}/", row(401, 200, 404, 404, 404, 200)),
        ("post", "/api/v1/compute-targets/", row(401, 400, 403, 403, 403, 403)),
        (
            "post",
            f"/api/v1/compute-targets/{target_b.pk}/quota/",
            row(401, 200, 403, 403, 403, 403),
        ),
        ("get", "/api/v1/instance-types/", row(401, 200, 200, 200, 200, 200)),
        ("post", "/api/v1/instance-types/", row(401, 400, 403, 403, 403, 403)),
        ("delete", delete_url(cluster), row(401, 204, 403, 403, 403, 403)),
        ("get", "/api/v1/compute-requests/", row(401, 200, 200, 200, 200, 200)),
    ]


def test_compute_matrix(world, client_for):
    failures = []
    for method, url_of, expected in cases(world):
        for persona in P:
            url = url_of(persona) if callable(url_of) else url_of
            client = client_for(persona)
            response = (
                getattr(client, method)(
                    url, {} if method != "get" else None, content_type="application/json"
                )
                if method != "get"
                else client.get(url)
            )
            if response.status_code != expected[persona]:
                failures.append(
                    f"{persona} {method} {url}: {response.status_code} != {expected[persona]}"
                )
            if method == "delete":
                kept = InstanceType.objects.filter(name=f"doomed-{persona}").exists()
                if kept != (expected[persona] != 204):
                    failures.append(f"{persona} {method} {url}: row kept is {kept}")
    assert not failures, "\n".join(failures)


def test_outsider_sees_only_own_targets(world, client_for):
    names = [
        t["name"] for t in client_for("outsider").get("/api/v1/compute-targets/").json()["results"]
    ]
    assert names == ["b-target"]
    page = client_for("scientist").get("/compute/").content.decode()
    assert "a-target" in page and "b-target" not in page


def test_cluster_group_matrix(world, personas):
    group = live.group_name("compute.cluster", world.pk)
    allowed = {name: live.can_join(user, group) for name, user in personas.items()}
    assert allowed == {
        "itops": True,
        "admin": False,
        "scientist": False,
        "reader": False,
        "outsider": False,
    }
