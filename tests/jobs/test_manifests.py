"""Rendering normalised specs to Kubernetes objects, checked field by field on the output."""

import io
import json
import pathlib
import subprocess
import tarfile

import pytest

from compute.instance_types import DEFAULT_INSTANCE_TYPE
from jobs.manifests import (
    FETCH_IMAGE,
    INDEX_FIELD_PATH,
    code_secret_name,
    object_name,
    render_job,
)
from jobs.spec import parse_job_yaml, validate_job_spec

SAMPLES = pathlib.Path(__file__).resolve().parents[2] / "samples" / "jobs"
GPU_SMALL = {
    "name": "gpu-small",
    "nodeSelector": {"accelerator": "nvidia-t4"},
    "resources": {
        "requests": {"cpu": "4", "memory": "16Gi"},
        "limits": {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"},
    },
    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
}
BASE = """\
command: python train.py
environment:
  image: python:3.11-slim
compute: azureml:cpu-target
"""


def spec_of(text: str) -> dict:
    return validate_job_spec(parse_job_yaml(text), source=text)


def render(text: str = BASE, **kwargs) -> list[dict]:
    arguments = {
        "spec": spec_of(text),
        "job_id": 42,
        "workspace": "team-a",
        "target": "cpu-target",
        "namespace": "ml-team-a",
        "instance_type": DEFAULT_INSTANCE_TYPE,
        "image": "python:3.11-slim",
    }
    return render_job(**(arguments | kwargs))


def job_of(objects: list[dict]) -> dict:
    assert objects[-1]["kind"] == "Job"
    return objects[-1]


def pod_of(objects: list[dict]) -> dict:
    return job_of(objects)["spec"]["template"]["spec"]


def main_of(objects: list[dict]) -> dict:
    (main,) = pod_of(objects)["containers"]
    assert main["name"] == "main"
    return main


def env_of(container: dict) -> dict:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def mounts_of(container: dict) -> dict:
    return {m["mountPath"]: m for m in container["volumeMounts"]}


def volumes_of(objects: list[dict]) -> dict:
    return {v["name"]: v for v in pod_of(objects)["volumes"]}


CODE = {"url": "https://portal.example/api/code/abc", "token": "s3cret"}


# --------------------------------------------------------------------------- the basic Job


def test_object_name_is_dns_safe_and_deterministic():
    assert object_name(7) == "kp-job-7"
    assert code_secret_name(7) == "kp-job-7-code"


def test_single_job():
    objects = render()
    assert [o["kind"] for o in objects] == ["Job"]
    job = job_of(objects)
    assert job["apiVersion"] == "batch/v1"
    assert job["metadata"]["name"] == "kp-job-42"
    assert job["metadata"]["namespace"] == "ml-team-a"
    assert job["spec"]["backoffLimit"] == 0
    assert "ttlSecondsAfterFinished" not in job["spec"]
    assert "activeDeadlineSeconds" not in job["spec"]
    assert "completionMode" not in job["spec"]
    pod = pod_of(objects)
    assert pod["restartPolicy"] == "Never"
    assert "subdomain" not in pod and "initContainers" not in pod
    assert "priorityClassName" not in pod and "nodeSelector" not in pod
    main = main_of(objects)
    assert main["image"] == "python:3.11-slim"
    assert main["command"] == ["/bin/sh", "-c", "python train.py"]
    assert "workingDir" not in main
    assert main["resources"] == DEFAULT_INSTANCE_TYPE["resources"]


def test_default_instance_type():
    assert DEFAULT_INSTANCE_TYPE == {
        "name": "defaultinstancetype",
        "nodeSelector": {},
        "resources": {
            "requests": {"cpu": "100m", "memory": "2Gi"},
            "limits": {"cpu": "2", "memory": "2Gi"},
        },
    }


def test_labels_and_annotations_on_every_object_and_the_pod_template():
    text = BASE + "name: run-1\ndisplay_name: My run\nexperiment_name: resnet\n"
    text += "code: ./src\nresources:\n  instance_count: 2\ndistribution: {type: pytorch}\n"
    objects = render(text, code=CODE, instance_type=GPU_SMALL, target="gpu-target")
    assert [o["kind"] for o in objects] == ["Secret", "Service", "Job"]
    expected = {
        "app.kubernetes.io/managed-by": "kubeportal",
        "kubeportal.io/job-id": "42",
        "kubeportal.io/workspace": "team-a",
        "kubeportal.io/compute": "gpu-target",
        "kubeportal.io/instance-type": "gpu-small",
    }
    annotations = {
        "kubeportal.io/display-name": "My run",
        "kubeportal.io/experiment": "resnet",
    }
    template = job_of(objects)["spec"]["template"]["metadata"]
    for metadata in [o["metadata"] for o in objects] + [template]:
        assert metadata["labels"] == expected
        assert metadata["annotations"] == annotations
    for obj in objects:
        assert obj["metadata"]["namespace"] == "ml-team-a"


def test_display_name_falls_back_to_the_object_name():
    metadata = job_of(render())["metadata"]
    assert metadata["annotations"]["kubeportal.io/display-name"] == "kp-job-42"
    assert metadata["annotations"]["kubeportal.io/experiment"] == "Default"


def test_instance_type_node_selector_resources_and_tolerations():
    objects = render(instance_type=GPU_SMALL)
    pod = pod_of(objects)
    assert pod["nodeSelector"] == {"accelerator": "nvidia-t4"}
    assert pod["tolerations"] == GPU_SMALL["tolerations"]
    resources = main_of(objects)["resources"]
    assert resources["limits"]["nvidia.com/gpu"] == "1"
    assert resources["requests"] == {"cpu": "4", "memory": "16Gi"}
    assert resources is not GPU_SMALL["resources"]  # a copy: callers may reuse the dict


def test_environment_variables():
    text = BASE + "environment_variables:\n  GREETING: hi\n  RETRIES: 3\n"
    env = env_of(main_of(render(text)))
    assert env["GREETING"] == "hi"
    assert env["RETRIES"] == "3"
    assert env["KP_JOB_ID"] == "42"
    assert env["KP_WORKSPACE"] == "team-a"
    assert env["KP_NUM_NODES"] == "1"
    assert env["KP_NODE_RANK"] == "0"
    names = [e["name"] for e in main_of(render(text))["env"]]
    assert names.index("KP_JOB_ID") < names.index("GREETING")  # so $(KP_JOB_ID) works
    assert len(names) == len(set(names))


def test_shm_volume():
    objects = render(BASE + "resources:\n  shm_size: 16g\n")
    assert volumes_of(objects)["shm"] == {
        "name": "shm",
        "emptyDir": {"medium": "Memory", "sizeLimit": "16Gi"},
    }
    assert mounts_of(main_of(objects))["/dev/shm"]["name"] == "shm"
    assert volumes_of(render())["shm"]["emptyDir"]["sizeLimit"] == "2Gi"


def test_timeout_becomes_active_deadline():
    job = job_of(render(BASE + "limits:\n  timeout: 600\n"))
    assert job["spec"]["activeDeadlineSeconds"] == 600


def test_priority_class_by_name_or_by_priority_mapping():
    assert pod_of(render(priority_class="ml-high"))["priorityClassName"] == "ml-high"
    classes = {"low": "kp-low", "medium": "kp-medium", "high": "kp-high"}
    text = BASE + "queue_settings:\n  priority: high\n"
    assert pod_of(render(text, priority_class=classes))["priorityClassName"] == "kp-high"
    assert pod_of(render(priority_class=classes))["priorityClassName"] == "kp-medium"
    assert "priorityClassName" not in pod_of(render(priority_class={"high": "x"}))


# --------------------------------------------------------------------------- inputs and outputs

IO_SPEC = BASE.replace(
    "python train.py",
    "python train.py --lr ${{inputs.lr}} --csv ${{inputs.csv}} --images ${{inputs.images}} "
    "--url ${{inputs.link}} --shared ${{inputs.shared}} --one ${{inputs.labels}} "
    "--model ${{outputs.model}} --best ${{outputs.best}} --export ${{outputs.export}}",
) + (
    "inputs:\n"
    "  lr: 0.01\n"
    "  flag: true\n"
    "  csv: {type: uri_file, path: 'https://example.com/data/iris.csv?raw=1'}\n"
    "  images: {path: 'https://example.com/images.tar.gz', mode: download}\n"
    "  link: {path: 'https://example.com/big', mode: direct}\n"
    "  shared: {path: 'pvc://datasets/imagenet/train'}\n"
    "  labels: {type: uri_file, path: 'pvc://datasets/imagenet/labels.txt'}\n"
    "outputs:\n"
    "  model:\n"
    "  best: {type: uri_file, path: 'pvc://results/run-1/best.pt'}\n"
    "  export: {path: 'pvc://datasets/exports'}\n"
)


def test_inputs_and_outputs_in_the_command():
    command = main_of(render(IO_SPEC))["command"][2]
    assert command == (
        "python train.py --lr 0.01 --csv /inputs/csv/iris.csv --images /inputs/images "
        "--url https://example.com/big --shared /inputs/shared --one /inputs/labels/labels.txt "
        "--model /outputs/model --best /outputs/best/best.pt --export /outputs/export"
    )


def test_input_and_output_env_vars():
    env = env_of(main_of(render(IO_SPEC)))
    assert env["KP_INPUT_LR"] == "0.01"
    assert env["KP_INPUT_FLAG"] == "true"
    assert env["KP_INPUT_CSV"] == "/inputs/csv/iris.csv"
    assert env["KP_INPUT_LINK"] == "https://example.com/big"
    assert env["KP_INPUT_SHARED"] == "/inputs/shared"
    assert env["KP_OUTPUT_MODEL"] == "/outputs/model"
    assert env["KP_OUTPUT_BEST"] == "/outputs/best/best.pt"


def test_url_inputs_are_downloaded_by_an_init_container():
    objects = render(IO_SPEC)
    (fetch,) = pod_of(objects)["initContainers"]
    assert fetch["name"] == "fetch-inputs"
    assert fetch["image"] == FETCH_IMAGE
    script = fetch["command"][2]
    assert (
        "curl -fsSL --retry 3 -o /inputs/csv/iris.csv 'https://example.com/data/iris.csv?raw=1'"
        in script
    )
    assert "-o /inputs/images/images.tar.gz https://example.com/images.tar.gz" in script
    assert "example.com/big" not in script  # direct: passed, not downloaded
    fetch_mounts = mounts_of(fetch)
    main_mounts = mounts_of(main_of(objects))
    volumes = volumes_of(objects)
    for folder in ("/inputs/csv", "/inputs/images"):
        name = fetch_mounts[folder]["name"]
        assert volumes[name]["emptyDir"] == {}
        assert main_mounts[folder]["name"] == name
    assert main_mounts["/inputs/csv"]["readOnly"] is True  # ro_mount
    assert main_mounts["/inputs/images"]["readOnly"] is False  # download: the job's own copy


def test_pvc_inputs_are_mounted_read_only_with_sub_paths():
    objects = render(IO_SPEC)
    mounts = mounts_of(main_of(objects))
    volumes = volumes_of(objects)
    shared = mounts["/inputs/shared"]
    assert shared["subPath"] == "imagenet/train"
    assert shared["readOnly"] is True
    assert volumes[shared["name"]]["persistentVolumeClaim"] == {"claimName": "datasets"}
    labels = mounts["/inputs/labels/labels.txt"]
    assert labels["subPath"] == "imagenet/labels.txt"
    assert labels["name"] == shared["name"]  # one volume per claim


def test_outputs_on_pvcs_and_on_the_job_store():
    objects = render(IO_SPEC, output_claim="portal-outputs")
    mounts = mounts_of(main_of(objects))
    volumes = volumes_of(objects)
    model = mounts["/outputs/model"]
    assert model["subPath"] == "jobs/42/model"
    assert volumes[model["name"]]["persistentVolumeClaim"]["claimName"] == "portal-outputs"
    assert not model.get("readOnly")
    best = mounts["/outputs/best"]
    assert best["subPath"] == "run-1"  # the folder of the file
    assert volumes[best["name"]]["persistentVolumeClaim"]["claimName"] == "results"
    export = mounts["/outputs/export"]
    assert export["subPath"] == "exports"
    assert not export.get("readOnly")
    claims = sorted(
        v["persistentVolumeClaim"]["claimName"]
        for v in volumes.values()
        if "persistentVolumeClaim" in v
    )
    assert claims == ["datasets", "portal-outputs", "results"]


def test_no_output_claim_without_job_store_outputs():
    volumes = volumes_of(render())
    assert not any("persistentVolumeClaim" in v for v in volumes.values())


# --------------------------------------------------------------------------- code


def test_code_secret_and_init_container():
    objects = render(BASE + "code: ./src\n", code=CODE)
    secret = objects[0]
    assert secret["kind"] == "Secret"
    assert secret["type"] == "Opaque"
    assert secret["metadata"]["name"] == "kp-job-42-code"
    assert secret["stringData"] == {"token": "s3cret"}
    pod = pod_of(objects)
    (fetch,) = pod["initContainers"]
    assert fetch["name"] == "fetch-code"
    assert fetch["image"] == "curlimages/curl:8.11.1"
    env = {e["name"]: e for e in fetch["env"]}
    assert env["CODE_URL"]["value"] == CODE["url"]
    assert env["CODE_TOKEN"]["valueFrom"] == {
        "secretKeyRef": {"name": "kp-job-42-code", "key": "token"}
    }
    assert "Authorization: Bearer $CODE_TOKEN" in fetch["command"][2]
    assert "s3cret" not in json.dumps(job_of(objects))  # the token only lives in the Secret
    assert mounts_of(fetch)["/code"]["name"] == "code"
    main = main_of(objects)
    assert mounts_of(main)["/code"]["name"] == "code"
    assert main["workingDir"] == "/code"
    assert volumes_of(objects)["code"] == {"name": "code", "emptyDir": {}}


def test_code_secret_name_can_be_chosen_and_code_runs_before_inputs():
    text = BASE + "code: ./src\ninputs:\n  d: {path: 'https://x.org/d.csv'}\n"
    objects = render(text, code=CODE | {"secret_name": "custom"})
    assert objects[0]["metadata"]["name"] == "custom"
    names = [c["name"] for c in pod_of(objects)["initContainers"]]
    assert names == ["fetch-code", "fetch-inputs"]


def test_code_in_spec_requires_uploaded_code():
    with pytest.raises(ValueError, match="upload"):
        render(BASE + "code: ./src\n")


def test_fetch_code_script_extracts_gzip_and_plain_tar(tmp_path):
    script = pod_of(render(BASE + "code: ./src\n", code=CODE))["initContainers"][0]["command"][2]
    local = script.replace("/tmp/code.tar", str(tmp_path / "c.tar"))
    local = local.replace(" /code", f" {tmp_path / 'code'}")
    # Replace the download with a local copy so the rest of the script runs as written.
    for compressed in (True, False):
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz" if compressed else "w") as archive:
            data = b"print('hi')\n"
            info = tarfile.TarInfo("train.py")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        (tmp_path / "upload.tar").write_bytes(buffer.getvalue())
        (tmp_path / "code").mkdir(exist_ok=True)
        lines = [
            f"cp {tmp_path / 'upload.tar'} {tmp_path / 'c.tar'}"
            if line.startswith("curl")
            else line
            for line in local.splitlines()
        ]
        subprocess.run(["/bin/sh", "-c", "\n".join(lines)], check=True)
        assert (tmp_path / "code" / "train.py").read_bytes() == data
        assert not (tmp_path / "c.tar").exists()


# --------------------------------------------------------------------------- distributed


def distributed(kind: str, count: int, extra: str = "") -> str:
    return BASE + f"resources:\n  instance_count: {count}\ndistribution:\n  type: {kind}\n{extra}"


def test_indexed_job_and_headless_service():
    objects = render(distributed("pytorch", 3))
    assert [o["kind"] for o in objects] == ["Service", "Job"]
    service, job = objects
    assert job["spec"]["completionMode"] == "Indexed"
    assert job["spec"]["completions"] == job["spec"]["parallelism"] == 3
    assert job["spec"]["backoffLimit"] == 0
    assert pod_of(objects)["subdomain"] == service["metadata"]["name"] == "kp-job-42"
    assert service["apiVersion"] == "v1"
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"] == {"kubeportal.io/job-id": "42"}
    assert service["spec"]["publishNotReadyAddresses"] is True
    assert service["spec"]["ports"] == [
        {"name": "rendezvous", "port": 29500, "targetPort": 29500, "protocol": "TCP"}
    ]
    template_labels = job["spec"]["template"]["metadata"]["labels"]
    assert all(template_labels[k] == v for k, v in service["spec"]["selector"].items())
    env = env_of(main_of(objects))
    assert env["KP_NUM_NODES"] == "3"
    assert env["KP_NODE_RANK"] == {"fieldRef": {"fieldPath": INDEX_FIELD_PATH}}


def test_multi_instance_without_distribution_has_a_portless_service():
    objects = render(BASE + "resources:\n  instance_count: 2\n")
    service = objects[0]
    assert service["kind"] == "Service"
    assert "ports" not in service["spec"]
    assert job_of(objects)["spec"]["completionMode"] == "Indexed"


def test_pytorch_env():
    text = distributed("pytorch", 2, "  process_count_per_instance: 4\n")
    env = env_of(main_of(render(text)))
    assert env["MASTER_ADDR"] == "kp-job-42-0.kp-job-42"
    assert env["MASTER_PORT"] == "29500"
    assert env["WORLD_SIZE"] == "8"
    assert env["NODE_RANK"] == {"fieldRef": {"fieldPath": INDEX_FIELD_PATH}}
    assert env["PET_NODE_RANK"] == env["NODE_RANK"]
    assert env["NPROC_PER_NODE"] == env["PET_NPROC_PER_NODE"] == "4"
    assert env["PET_NNODES"] == "2"
    assert INDEX_FIELD_PATH == "metadata.annotations['batch.kubernetes.io/job-completion-index']"


def test_pytorch_single_instance_uses_localhost():
    env = env_of(main_of(render(distributed("pytorch", 1, "  process_count_per_instance: 2\n"))))
    assert env["MASTER_ADDR"] == "localhost"
    assert env["NODE_RANK"] == "0"
    assert env["WORLD_SIZE"] == "2"


def run_prefix(container: dict, index: int, show: str) -> str:
    """Runs the container's shell command up to the user's command, then prints ``show``."""
    script = container["command"][2].rsplit("\n", 1)[0]
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    env["JOB_COMPLETION_INDEX"] = str(index)
    result = subprocess.run(
        ["/bin/sh", "-c", f"{script}\n{show}"], env=env, capture_output=True, text=True, check=True
    )
    return result.stdout


def test_tf_config_is_built_per_pod_from_the_completion_index():
    text = distributed("tensorflow", 3, "  worker_count: 2\n  parameter_server_count: 1\n")
    objects = render(text)
    assert objects[0]["spec"]["ports"][0]["port"] == 2222
    main = main_of(objects)
    assert main["command"][2].endswith("\npython train.py")
    cluster = {
        "worker": ["kp-job-42-0.kp-job-42:2222", "kp-job-42-1.kp-job-42:2222"],
        "ps": ["kp-job-42-2.kp-job-42:2222"],
    }
    tasks = [("worker", 0), ("worker", 1), ("ps", 0)]
    for index, (kind, task_index) in enumerate(tasks):
        config = json.loads(run_prefix(main, index, 'printf %s "$TF_CONFIG"'))
        assert config == {"cluster": cluster, "task": {"type": kind, "index": task_index}}


def test_tf_config_without_parameter_servers():
    main = main_of(render(distributed("tensorflow", 2)))
    config = json.loads(run_prefix(main, 1, 'printf %s "$TF_CONFIG"'))
    assert config["cluster"] == {
        "worker": ["kp-job-42-0.kp-job-42:2222", "kp-job-42-1.kp-job-42:2222"]
    }
    assert "ps" not in config["cluster"]
    assert config["task"] == {"type": "worker", "index": 1}


def test_mpi_host_list_and_hostfile(tmp_path):
    objects = render(distributed("mpi", 3, "  process_count_per_instance: 2\n"))
    assert objects[0]["spec"]["ports"][0]["port"] == 22
    main = main_of(objects)
    env = env_of(main)
    hosts = ["kp-job-42-0.kp-job-42", "kp-job-42-1.kp-job-42", "kp-job-42-2.kp-job-42"]
    assert env["KP_MPI_HOSTS"] == ",".join(f"{h}:2" for h in hosts)
    assert env["KP_WORLD_SIZE"] == "6"
    assert env["KP_MPI_HOSTFILE"] == env["OMPI_MCA_orte_default_hostfile"] == "/tmp/hostfile"
    main["env"] = [
        e | {"value": str(tmp_path / "hostfile")} if e["name"] == "KP_MPI_HOSTFILE" else e
        for e in main["env"]
    ]
    run_prefix(main, 0, "true")
    assert (tmp_path / "hostfile").read_text() == "".join(f"{h} slots=2\n" for h in hosts)


# --------------------------------------------------------------------------- determinism and samples


def test_rendering_is_deterministic():
    kwargs = {"code": CODE, "instance_type": GPU_SMALL, "priority_class": "p"}
    first = json.dumps(render(IO_SPEC + "code: ./src\n", **kwargs))
    second = json.dumps(render(IO_SPEC + "code: ./src\n", **kwargs))
    assert first == second


def test_rendering_does_not_change_its_arguments():
    spec = spec_of(IO_SPEC)
    before = json.dumps(spec)
    instance_type = json.loads(json.dumps(GPU_SMALL))
    render_job(spec=spec, job_id=1, workspace="w", target="t", namespace="n",
               instance_type=instance_type, image="i")  # fmt: skip
    assert json.dumps(spec) == before
    assert instance_type == GPU_SMALL


SAMPLE_FILES = sorted(SAMPLES.glob("*.yml"))


def test_all_samples_are_present():
    names = {path.name for path in SAMPLE_FILES}
    assert names == {
        "hello-world.yml", "env-vars.yml", "inputs.yml", "code-folder.yml",
        "pytorch-distributed.yml", "tensorflow-distributed.yml", "mpi.yml",
        "instance-type.yml", "timeout.yml",
    }  # fmt: skip
    assert (SAMPLES / "src" / "train.py").is_file()


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.name)
def test_samples_validate_and_render(path):
    text = path.read_text()
    spec = spec_of(text)
    assert spec["compute"] in ("cpu-target", "gpu-target")
    instance_type = (
        GPU_SMALL if spec["resources"]["instance_type"] == "gpu-small" else DEFAULT_INSTANCE_TYPE
    )
    code = CODE if spec["code"] else None
    objects = render_job(spec=spec, job_id=5, workspace="team-a", target=spec["compute"],
                         namespace="ml-team-a", instance_type=instance_type,
                         image=spec["environment"]["image"], code=code)  # fmt: skip
    job = job_of(objects)
    assert job["metadata"]["name"] == "kp-job-5"
    assert "${{" not in main_of(objects)["command"][2]
    assert (spec["resources"]["instance_count"] > 1) == (objects[-2:][0]["kind"] == "Service")
