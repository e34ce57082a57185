"""All cluster I/O of the jobs app, through ``compute.kube``. Every function takes the
cluster (its row) first, like compute's gateway."""

from datetime import UTC, datetime

from compute.kube import calls
from compute.kube.client import client_for
from compute.kube.errors import ClusterError, ErrorKind
from compute.kube.labels import job_id_of, job_selector

# The kinds a job is made of, as (apiVersion, kind); deleted in this order.
JOB_KINDS = (("batch/v1", "Job"), ("v1", "Service"), ("v1", "Secret"))


def create_objects(cluster, namespace: str, objects: list[dict]) -> str:
    """Creates the rendered objects in order, treating "already exists" as done (safe to retry).

    Returns the Job's uid. Afterwards the Secret and Service are owned by the Job so
    that Kubernetes deletes them with it.
    """
    api = client_for(cluster)
    created = calls.apply(api, objects, namespace=namespace)
    job = next(obj for obj in created if obj["kind"] == "Job")
    owner = [
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "name": job["metadata"]["name"],
            "uid": job["metadata"]["uid"],
            "controller": False,
            "blockOwnerDeletion": False,
        }
    ]
    for obj in objects:
        if obj["kind"] in ("Secret", "Service"):
            calls.patch(
                api,
                obj["apiVersion"],
                obj["kind"],
                obj["metadata"]["name"],
                {"metadata": {"ownerReferences": owner}},
                namespace=namespace,
                doing=f"owning the {obj['kind'].lower()} {obj['metadata']['name']}",
            )
    return job["metadata"]["uid"]


def delete_objects(cluster, namespace: str, job_id: int) -> None:
    """Deletes the job's Job (with its pods), Service and Secret; missing objects are fine."""
    api = client_for(cluster)
    for api_version, kind in JOB_KINDS:
        items = calls.list_objects(
            api,
            api_version,
            kind,
            namespace=namespace,
            label_selector=job_selector(job_id),
            doing=f"listing the job's {kind}s",
        )
        for item in items:
            calls.delete(
                api,
                api_version,
                kind,
                item["metadata"]["name"],
                namespace=namespace,
                propagation="Background",
            )


def read_state(
    cluster, namespace: str, job_id: int, object_name: str
) -> tuple[dict | None, list[dict], list[dict]]:
    """Returns (Job object or None, pods, Warning events about the Job) for one job."""
    api = client_for(cluster)
    try:
        job = calls.get(api, "batch/v1", "Job", object_name, namespace=namespace)
    except ClusterError as err:
        if err.kind != ErrorKind.NOT_FOUND:
            raise
        job = None
    pods = calls.list_objects(
        api,
        "v1",
        "Pod",
        namespace=namespace,
        label_selector=job_selector(job_id),
        doing="listing the job's pods",
    )
    events = read_events(cluster, namespace, object_name) if job is not None and not pods else []
    return job, pods, events


def read_states(
    cluster, namespace: str, job_ids: list[int]
) -> tuple[dict[str, dict], dict[str, list[dict]]]:
    """The Jobs of ``job_ids`` by name and their pods by job id: what ``read_state`` gives
    for one job, for many in two (paged) lists."""
    api = client_for(cluster)
    selector = job_selector(job_ids)
    jobs = {
        obj["metadata"]["name"]: obj
        for obj in calls.list_objects(
            api, "batch/v1", "Job", namespace=namespace, label_selector=selector
        )
    }
    pods: dict[str, list[dict]] = {}
    for pod in calls.list_objects(
        api,
        "v1",
        "Pod",
        namespace=namespace,
        label_selector=selector,
        doing="listing the jobs' pods",
    ):
        pods.setdefault(job_id_of(pod), []).append(pod)
    return jobs, pods


def read_events(cluster, namespace: str, object_name: str) -> list[dict]:
    """The events about the Job ``object_name`` (what explains a Job without pods)."""
    return calls.list_objects(
        client_for(cluster),
        "v1",
        "Event",
        namespace=namespace,
        field_selector=f"involvedObject.name={object_name}",
        doing="listing the job's events",
    )


def read_log_since(
    cluster, namespace: str, pod: str, *, container: str, since_ns: int, previous: bool = False
) -> str:
    """The log of ``container`` in ``pod`` (of its ``previous`` instance, when it restarted)
    with each line's timestamp, from the second of ``since_ns`` (nanoseconds since the epoch)
    on, or whole when it is 0. The client's typed method has no ``sinceTime``, so the
    request is made through its generic path."""
    query = [("container", container), ("timestamps", "true")]
    if previous:
        query.append(("previous", "true"))
    if since_ns:
        query.append(("sinceTime", since_time(since_ns)))
    return calls.request(
        client_for(cluster),
        f"reading the log of {pod}",
        "GET",
        calls.rest_path("v1", "Pod", namespace=namespace, name=pod) + "/log",
        query=query,
        accept="text/plain",
    )


NS = 1_000_000_000


def since_time(cursor_ns: int) -> str:
    """The ``sinceTime`` that returns every line from ``cursor_ns`` on (its whole second)."""
    return datetime.fromtimestamp(cursor_ns // NS, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
