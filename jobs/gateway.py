"""All cluster I/O of the jobs app, through compute's per-cluster clients."""

from kubernetes import client

from compute.gateway import ClusterError, _call, _raw_json, client_for

LABEL_JOB = "kubeportal.io/job-id"


def create_objects(cluster, namespace: str, objects: list[dict]) -> str:
    """Creates the rendered objects in order, treating "already exists" as done (safe to retry).

    Returns the Job's uid. Afterwards the Secret and Service are owned by the Job so
    that Kubernetes deletes them with it.
    """
    api = client_for(cluster)
    core, batch = client.CoreV1Api(api), client.BatchV1Api(api)
    job_uid = ""
    job_name = ""
    for obj in objects:
        kind, name = obj["kind"], obj["metadata"]["name"]
        create = {
            "Secret": core.create_namespaced_secret,
            "Service": core.create_namespaced_service,
            "Job": batch.create_namespaced_job,
        }[kind]
        try:
            created = _raw_json(f"creating {kind} {name} in {namespace}", create, namespace, obj)
        except ClusterError as err:
            if err.kind != "conflict":
                raise
            read = {
                "Secret": core.read_namespaced_secret,
                "Service": core.read_namespaced_service,
                "Job": batch.read_namespaced_job,
            }[kind]
            created = _raw_json(f"reading {kind} {name}", read, name, namespace)
        if kind == "Job":
            job_uid, job_name = created["metadata"]["uid"], name
    owner = [
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "name": job_name,
            "uid": job_uid,
            "controller": False,
            "blockOwnerDeletion": False,
        }
    ]
    for obj in objects:
        if obj["kind"] == "Secret":
            _call(
                "owning the code secret",
                core.patch_namespaced_secret,
                obj["metadata"]["name"],
                namespace,
                {"metadata": {"ownerReferences": owner}},
            )
        elif obj["kind"] == "Service":
            _call(
                "owning the service",
                core.patch_namespaced_service,
                obj["metadata"]["name"],
                namespace,
                {"metadata": {"ownerReferences": owner}},
            )
    return job_uid


def delete_objects(cluster, namespace: str, job_id: int) -> None:
    """Deletes the job's Job (with its pods), Service and Secret; missing objects are fine."""
    api = client_for(cluster)
    core, batch = client.CoreV1Api(api), client.BatchV1Api(api)
    selector = f"{LABEL_JOB}={job_id}"
    body = client.V1DeleteOptions(propagation_policy="Background")
    for kind, lister, deleter in (
        ("Job", batch.list_namespaced_job, batch.delete_namespaced_job),
        ("Service", core.list_namespaced_service, core.delete_namespaced_service),
        ("Secret", core.list_namespaced_secret, core.delete_namespaced_secret),
    ):
        items = _raw_json(
            f"listing the job's {kind}s", lister, namespace, label_selector=selector
        ).get("items", [])
        for item in items:
            try:
                _call(
                    f"deleting {kind} {item['metadata']['name']}",
                    deleter,
                    item["metadata"]["name"],
                    namespace,
                    body=body,
                )
            except ClusterError as err:
                if err.kind != "not_found":
                    raise


def read_state(
    cluster, namespace: str, job_id: int, object_name: str
) -> tuple[dict | None, list[dict], list[dict]]:
    """Returns (Job object or None, pods, Warning events about the Job) for one job."""
    api = client_for(cluster)
    core, batch = client.CoreV1Api(api), client.BatchV1Api(api)
    try:
        job = _raw_json(
            f"reading job {object_name}", batch.read_namespaced_job, object_name, namespace
        )
    except ClusterError as err:
        if err.kind != "not_found":
            raise
        job = None
    pods = _raw_json(
        "listing the job's pods",
        core.list_namespaced_pod,
        namespace,
        label_selector=f"{LABEL_JOB}={job_id}",
    ).get("items", [])
    events = read_events(cluster, namespace, object_name) if job is not None and not pods else []
    return job, pods, events


# Items per page when listing the objects of many jobs.
LIST_PAGE = 500


def read_states(
    cluster, namespace: str, job_ids: list[int]
) -> tuple[dict[str, dict], dict[str, list[dict]]]:
    """The Jobs of ``job_ids`` by name and their pods by job id: what ``read_state`` gives
    for one job, for many in two (paged) lists."""
    api = client_for(cluster)
    core, batch = client.CoreV1Api(api), client.BatchV1Api(api)
    selector = f"{LABEL_JOB} in ({','.join(str(pk) for pk in job_ids)})"
    jobs = {
        obj["metadata"]["name"]: obj
        for obj in _list_all("listing jobs", batch.list_namespaced_job, namespace, selector)
    }
    pods: dict[str, list[dict]] = {}
    for pod in _list_all("listing the jobs' pods", core.list_namespaced_pod, namespace, selector):
        job_id = (pod["metadata"].get("labels") or {}).get(LABEL_JOB)
        pods.setdefault(job_id, []).append(pod)
    return jobs, pods


def _list_all(doing: str, list_fn, namespace: str, selector: str) -> list[dict]:
    items: list[dict] = []
    token = None
    while True:
        page = _raw_json(
            doing,
            list_fn,
            namespace,
            label_selector=selector,
            limit=LIST_PAGE,
            **({"_continue": token} if token else {}),
        )
        items.extend(page.get("items", []))
        token = (page.get("metadata") or {}).get("continue")
        if not token:
            return items


def read_events(cluster, namespace: str, object_name: str) -> list[dict]:
    """The events about the Job ``object_name`` (what explains a Job without pods)."""
    return _raw_json(
        "listing the job's events",
        client.CoreV1Api(client_for(cluster)).list_namespaced_event,
        namespace,
        field_selector=f"involvedObject.name={object_name}",
    ).get("items", [])


def read_log_since(
    cluster, namespace: str, pod: str, *, container: str, since_ns: int, previous: bool = False
) -> str:
    """The log of ``container`` in ``pod`` (of its ``previous`` instance, when it restarted)
    with each line's timestamp, from the second of ``since_ns`` (nanoseconds since the epoch)
    on, or whole when it is 0. The client's typed method has no ``sinceTime``, so the
    request is made through its generic ``call_api``."""
    from jobs.logcopy import since_time

    query = [("container", container), ("timestamps", "true")]
    if previous:
        query.append(("previous", "true"))
    if since_ns:
        query.append(("sinceTime", since_time(since_ns)))
    api = client_for(cluster)
    response = _call(
        f"reading the log of {pod}",
        api.call_api,
        "/api/v1/namespaces/{namespace}/pods/{name}/log",
        "GET",
        path_params={"namespace": namespace, "name": pod},
        query_params=query,
        header_params={"Accept": "text/plain"},
        auth_settings=["BearerToken"],
        _preload_content=False,
    )
    try:
        return response.data.decode(errors="replace")
    finally:
        response.release_conn()
