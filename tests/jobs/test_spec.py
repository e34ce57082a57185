"""Command job specs: acceptance, normalisation and every refusal, with field paths and positions."""

import json

import pytest

from assets.references import code_reference
from jobs.spec import (
    FieldError,
    SpecError,
    parse_job_yaml,
    parse_shm_size,
    references,
    substitute_command,
    validate_job_spec,
)

BASE = """\
command: python train.py
environment:
  image: python:3.11-slim
compute: azureml:cpu-target
"""


def validate(text: str, overrides: dict[str, str] | None = None) -> dict:
    return validate_job_spec(parse_job_yaml(text), source=text, overrides=overrides)


def errors(text: str, overrides: dict[str, str] | None = None) -> list[FieldError]:
    with pytest.raises(SpecError) as caught:
        validate(text, overrides)
    assert caught.value.errors
    return caught.value.errors


def only_error(text: str, overrides: dict[str, str] | None = None) -> FieldError:
    found = errors(text, overrides)
    assert len(found) == 1, found
    return found[0]


# --------------------------------------------------------------------------- normalisation


def test_minimal_spec_is_fully_defaulted_and_json_serialisable():
    spec = validate(BASE)
    assert spec == {
        "type": "command",
        "name": None,
        "display_name": None,
        "experiment_name": "Default",
        "description": None,
        "tags": {},
        "command": "python train.py",
        "code": None,
        "environment": {"image": "python:3.11-slim", "registered": None},
        "environment_variables": {},
        "inputs": {},
        "outputs": {},
        "compute": "cpu-target",
        "resources": {"instance_type": None, "instance_count": 1, "shm_size": "2Gi"},
        "distribution": None,
        "limits": {"timeout": None},
        "queue_settings": {"priority": "medium"},
    }
    assert json.loads(json.dumps(spec)) == spec


def test_schema_and_type_command_are_accepted():
    text = "$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json\n"
    assert validate(text + "type: command\n" + BASE)["type"] == "command"


def test_descriptive_fields():
    spec = validate(
        BASE + "name: train-resnet-1\nexperiment_name: resnet_v2.1\ndescription: Trains it\n"
    )
    assert spec["name"] == "train-resnet-1"
    assert spec["display_name"] == "train-resnet-1"  # defaults to the name
    assert spec["experiment_name"] == "resnet_v2.1"
    assert spec["description"] == "Trains it"
    assert validate(BASE + "name: a\ndisplay_name: My run\n")["display_name"] == "My run"


def test_tags_are_stringified():
    spec = validate(BASE + "tags:\n  owner: ana\n  epochs: 3\n  fast: true\n  lr: 0.5\n  x:\n")
    assert spec["tags"] == {"owner": "ana", "epochs": "3", "fast": "true", "lr": "0.5", "x": ""}


def test_environment_variables_are_stringified():
    spec = validate(BASE + "environment_variables:\n  A: x\n  RETRIES: 3\n  DEBUG: false\n")
    assert spec["environment_variables"] == {"A": "x", "RETRIES": "3", "DEBUG": "false"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("azureml:pytorch-env:3", {"name": "pytorch-env", "version": "3", "latest": False}),
        ("azureml:pytorch-env@latest", {"name": "pytorch-env", "version": None, "latest": True}),
        ("my_env:1.2", {"name": "my_env", "version": "1.2", "latest": False}),
        ("my.env@latest", {"name": "my.env", "version": None, "latest": True}),
    ],
)
def test_registered_environment_references(value, expected):
    text = f"command: x\ncompute: c\nenvironment: {value}\n"
    assert validate(text)["environment"] == {"image": None, "registered": expected}


def test_inline_environment_with_name_and_description():
    text = (
        "command: x\ncompute: c\nenvironment:\n  name: mine\n  description: d\n"
        "  image: ghcr.io/org/img:1\n  os_type: linux\n"
    )
    assert validate(text)["environment"] == {"image": "ghcr.io/org/img:1", "registered": None}


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("./src", {"kind": "local", "path": "./src", "sha256": None}),
        (code_reference("a" * 64), {"kind": "uploaded", "path": None, "sha256": "a" * 64}),
    ],
)
def test_code(code, expected):
    assert validate(BASE + f"code: {code}\n")["code"] == expected


def test_compute_prefix_is_optional():
    assert validate(BASE.replace("azureml:cpu-target", "gpu-target"))["compute"] == "gpu-target"


@pytest.mark.parametrize(
    ("given", "expected"),
    [("2g", "2Gi"), ("512m", "512Mi"), ("1024k", "1Mi"), ("2Gi", "2Gi"), ("1.5g", "1536Mi"),
     ("8GB", "8Gi"), ("300Mi", "300Mi"), ("1048576", "1Mi"), ("100", "100")],
)  # fmt: skip
def test_shm_size_normalised_to_kubernetes_quantity(given, expected):
    spec = validate(BASE + f"resources:\n  shm_size: '{given}'\n")
    assert spec["resources"]["shm_size"] == expected


def test_parse_shm_size_reads_docker_units_as_binary():
    assert parse_shm_size("2g") == 2 * 1024**3
    with pytest.raises(ValueError):
        parse_shm_size("lots")


def test_resources():
    spec = validate(BASE + "resources:\n  instance_type: gpu-small\n  instance_count: 4\n")
    assert spec["resources"] == {
        "instance_type": "gpu-small",
        "instance_count": 4,
        "shm_size": "2Gi",
    }


def test_literal_and_uri_inputs():
    spec = validate(
        BASE + "inputs:\n"
        "  lr: 0.01\n  epochs: 3\n  name: resnet\n  flag: true\n"
        "  data:\n    path: https://example.com/data.csv\n    type: uri_file\n"
        "  folder:\n    path: pvc://datasets/imagenet/train/\n    mode: download\n"
        "  direct:\n    path: http://example.com/x\n    mode: direct\n"
    )
    inputs = spec["inputs"]
    assert list(inputs) == sorted(inputs)
    assert inputs["lr"] == {"kind": "literal", "value": 0.01}
    assert inputs["epochs"] == {"kind": "literal", "value": 3}
    assert inputs["flag"] == {"kind": "literal", "value": True}
    assert inputs["data"] == {
        "kind": "uri", "type": "uri_file", "mode": "ro_mount",
        "path": "https://example.com/data.csv", "source": "url",
        "url": "https://example.com/data.csv", "claim": None, "sub_path": None,
    }  # fmt: skip
    assert inputs["folder"] | {} == {
        "kind": "uri", "type": "uri_folder", "mode": "download",
        "path": "pvc://datasets/imagenet/train/", "source": "pvc", "url": None,
        "claim": "datasets", "sub_path": "imagenet/train",
    }  # fmt: skip
    assert inputs["direct"]["mode"] == "direct"


def test_whole_claim_input_has_no_sub_path():
    spec = validate(BASE + "inputs:\n  d:\n    path: pvc://datasets\n")
    assert (spec["inputs"]["d"]["claim"], spec["inputs"]["d"]["sub_path"]) == ("datasets", None)


def test_outputs():
    spec = validate(
        BASE + "outputs:\n  model:\n  logs: {}\n"
        "  shared:\n    type: uri_folder\n    mode: upload\n    path: pvc://results/run-1\n"
        "  best:\n    type: uri_file\n    path: pvc://results/best/model.pt\n"
    )
    outputs = spec["outputs"]
    assert outputs["model"] == {
        "type": "uri_folder", "mode": "rw_mount", "path": None, "source": "job",
        "claim": None, "sub_path": None,
    }  # fmt: skip
    assert outputs["logs"] == outputs["model"]
    assert outputs["shared"] | {} == {
        "type": "uri_folder", "mode": "upload", "path": "pvc://results/run-1",
        "source": "pvc", "claim": "results", "sub_path": "run-1",
    }  # fmt: skip
    assert outputs["best"]["sub_path"] == "best/model.pt"


@pytest.mark.parametrize(
    ("distribution", "count", "expected"),
    [
        ("{type: pytorch}", 2, {"type": "pytorch", "process_count_per_instance": 1}),
        ("{type: pytorch, process_count_per_instance: 4}", 1,
         {"type": "pytorch", "process_count_per_instance": 4}),
        ("{type: mpi, process_count_per_instance: 2}", 3,
         {"type": "mpi", "process_count_per_instance": 2}),
        ("{type: tensorflow}", 3,
         {"type": "tensorflow", "worker_count": 3, "parameter_server_count": 0}),
        ("{type: tensorflow, worker_count: 2, parameter_server_count: 1}", 3,
         {"type": "tensorflow", "worker_count": 2, "parameter_server_count": 1}),
    ],
)  # fmt: skip
def test_distribution(distribution, count, expected):
    text = BASE + f"resources:\n  instance_count: {count}\ndistribution: {distribution}\n"
    assert validate(text)["distribution"] == expected


def test_limits_and_queue_settings():
    spec = validate(BASE + "limits:\n  timeout: 3600\nqueue_settings:\n  priority: High\n")
    assert spec["limits"] == {"timeout": 3600}
    assert spec["queue_settings"] == {"priority": "high"}


def test_command_references_to_declared_inputs_and_outputs():
    text = BASE.replace(
        "python train.py", "python train.py --lr ${{inputs.lr}} --out ${{ outputs.model }}"
    )
    spec = validate(text + "inputs:\n  lr: 0.1\noutputs:\n  model:\n")
    assert references(spec["command"]) == [("inputs", "lr"), ("outputs", "model")]


# --------------------------------------------------------------------------- substitution


def test_substitute_command():
    command = "run ${{inputs.a}} ${{ inputs.b }} > ${{outputs.o}}/x ${{inputs.a}}"
    result = substitute_command(command, inputs={"a": "1", "b": "/inputs/b"}, outputs={"o": "/o"})
    assert result == "run 1 /inputs/b > /o/x 1"
    with pytest.raises(ValueError, match="inputs.c"):
        substitute_command("${{inputs.c}}", inputs={}, outputs={})


# --------------------------------------------------------------------------- overrides


def test_overrides_are_applied_before_validation_as_yaml_scalars():
    spec = validate(
        BASE + "inputs:\n  lr: 0.1\n",
        overrides={
            "compute": "gpu-target",
            "resources.instance_count": "2",
            "inputs.lr": "0.01",
            "inputs.epochs": "5",
            "tags.note": "echo a: b # not a comment",
            "tags.answer": "no",
            "environment_variables.DEBUG": "true",
            "name": "'run-1'",
        },
    )
    assert spec["compute"] == "gpu-target"
    assert spec["resources"]["instance_count"] == 2
    assert spec["inputs"]["lr"] == {"kind": "literal", "value": 0.01}
    assert spec["inputs"]["epochs"] == {"kind": "literal", "value": 5}
    assert spec["tags"] == {"note": "echo a: b # not a comment", "answer": "no"}
    assert spec["environment_variables"] == {"DEBUG": "true"}
    assert spec["name"] == "run-1"


def test_override_errors_carry_the_path_but_no_line():
    error = only_error(BASE, overrides={"resources.instance_count": "two"})
    assert error.path == "resources.instance_count"
    assert error.line is None
    assert "got 'two'" in error.message


def test_override_through_a_scalar_is_refused():
    error = only_error(BASE, overrides={"command.x": "1"})
    assert error.path == "command.x"
    assert "not a mapping" in error.message
    assert only_error(BASE, overrides={"a..b": "1"}).path == "a..b"


# --------------------------------------------------------------------------- YAML errors


def test_yaml_syntax_error_has_line_and_column():
    with pytest.raises(SpecError) as caught:
        parse_job_yaml("command: x\ninputs: [1, 2\ncompute: c\n")
    (error,) = caught.value.errors
    assert error.path == ""
    assert "not valid YAML" in error.message
    assert (error.line, error.column) == (3, 8)


@pytest.mark.parametrize("text", ["", "- a\n- b\n", "just text\n", "a: 1\n---\nb: 2\n"])
def test_documents_that_are_not_one_mapping_are_refused(text):
    with pytest.raises(SpecError):
        parse_job_yaml(text)


def test_duplicate_keys_are_refused_with_position():
    with pytest.raises(SpecError) as caught:
        parse_job_yaml("command: a\ncompute: c\ncommand: b\n")
    (error,) = caught.value.errors
    assert "`command` appears twice" in error.message
    assert error.line == 3


def test_validate_refuses_a_non_mapping():
    with pytest.raises(SpecError):
        validate_job_spec(["command"])  # type: ignore[arg-type]


# --------------------------------------------------------------------------- refusals


def test_every_problem_is_reported_with_its_position():
    text = (
        "name: Bad_Name\n"  # 1
        "command: run ${{inputs.missing}}\n"  # 2
        "environment:\n"  # 3
        "  image: python:3.11-slim\n"  # 4
        "compute: azureml:cpu-target\n"  # 5
        "resources:\n"  # 6
        "  instance_count: two\n"  # 7
        "  gpu: 1\n"  # 8
        "identity:\n"  # 9
        "  type: managed\n"  # 10
    )
    found = {error.path: error for error in errors(text)}
    assert set(found) == {
        "name",
        "command",
        "resources.instance_count",
        "resources.gpu",
        "identity",
    }
    assert (found["name"].line, found["name"].column) == (1, 1)
    assert found["command"].line == 2
    assert (found["resources.instance_count"].line, found["resources.instance_count"].column) == (
        7,
        3,
    )
    assert found["resources.gpu"].line == 8
    assert found["identity"].line == 9
    assert [e.line for e in errors(text)] == sorted(e.line for e in errors(text))


def test_unknown_field_names_the_known_ones():
    error = only_error(BASE + "resources:\n  gpu: 1\n")
    assert error.message == (
        "unknown field `resources.gpu`; known fields here are: instance_type, instance_count, "
        "shm_size"
    )


@pytest.mark.parametrize(
    ("extra", "path", "suggestion"),
    [
        ("resources:\n  instance_cout: 2\n", "resources.instance_cout", "instance_count"),
        ("enviroment_variables: {}\n", "enviroment_variables", "environment_variables"),
        ("limits:\n  timout: 5\n", "limits.timout", "timeout"),
        ("inputs:\n  d:\n    path: http://x/y\n    mdoe: direct\n", "inputs.d.mdoe", "mode"),
        ("distribution:\n  type: pytorch\n  process_count: 2\n",
         "distribution.process_count", "process_count_per_instance"),
    ],
)  # fmt: skip
def test_unknown_field_suggests_a_close_match(extra, path, suggestion):
    error = only_error(BASE + extra)
    assert error.path == path
    assert f"Did you mean `{suggestion}`?" in error.message


@pytest.mark.parametrize(
    ("extra", "path", "words"),
    [
        ("identity:\n  type: managed\n", "identity", "service account"),
        ("services:\n  jupyter: {type: jupyter_lab}\n", "services", "port-forward"),
        ("properties: {a: b}\n", "properties", "tags"),
        ("resources:\n  docker_args: --ipc=host\n", "resources.docker_args", "shm_size"),
        ("resources:\n  properties: {}\n", "resources.properties", "instance type"),
        ("resources:\n  locations: [westeurope]\n", "resources.locations", "location"),
        ("queue_settings:\n  job_tier: spot\n", "queue_settings.job_tier", "priority"),
        ("outputs:\n  m:\n    name: my-model\n", "outputs.m.name", "data assets"),
    ],
)  # fmt: skip
def test_unsupported_fields_say_why_and_what_instead(extra, path, words):
    error = only_error(BASE + extra)
    assert error.path == path
    assert words in error.message


@pytest.mark.parametrize("job_type", ["sweep", "pipeline", "parallel", "spark"])
def test_other_job_types_are_refused(job_type):
    text = f"type: {job_type}\ntrial: {{}}\nsearch_space: {{}}\n"
    error = only_error(text)
    assert error.path == "type"
    assert f"{job_type} jobs are not supported" in error.message.lower()


def test_sweep_refusal_says_how_to_run_trials():
    error = only_error("type: sweep\n")
    assert "submit one command job per trial" in error.message
    assert "--set inputs.lr=0.01" in error.message
    assert only_error("type: automl\n").message.startswith("type must be `command`")


@pytest.mark.parametrize(
    ("extra", "path", "words"),
    [
        ("resources:\n  instance_count: two\n", "resources.instance_count",
         "resources.instance_count must be an integer ≥ 1 and ≤ 64, got 'two'"),
        ("resources:\n  instance_count: 0\n", "resources.instance_count", "got 0"),
        ("resources:\n  instance_count: 65\n", "resources.instance_count", "≤ 64"),
        ("resources:\n  instance_count: true\n", "resources.instance_count", "got True"),
        ("resources:\n  shm_size: lots\n", "resources.shm_size", "such as 2g"),
        ("resources:\n  shm_size: 0\n", "resources.shm_size", "such as 2g"),
        ("resources:\n  instance_type: GPU_Small\n", "resources.instance_type", "lowercase"),
        ("resources: big\n", "resources", "must be a mapping"),
        ("limits:\n  timeout: -1\n", "limits.timeout", "integer ≥ 1"),
        ("limits:\n  timeout: 1h\n", "limits.timeout", "got '1h'"),
        ("queue_settings:\n  priority: urgent\n", "queue_settings.priority", "low, medium or high"),
        ("tags: [a, b]\n", "tags", "must be a mapping"),
        ("tags:\n  a: [1]\n", "tags.a", "must be text"),
        ("environment_variables:\n  1BAD: x\n", "environment_variables.1BAD", "not a valid"),
        ("environment_variables:\n  A-B: x\n", "environment_variables.A-B", "not a valid"),
        ("environment_variables:\n  A:\n", "environment_variables.A", "must be text"),
        ("environment_variables:\n  KP_JOB_ID: x\n", "environment_variables.KP_JOB_ID",
         "reserved"),
        ("experiment_name: 'my experiment'\n", "experiment_name", "letters, digits"),
        ("display_name: 3\n", "display_name", "must be text"),
        ("description: [a]\n", "description", "must be text"),
        ("code: ''\n", "code", "must not be empty"),
        ("code: azureml:my-code:1\n", "code", "local folder"),
        ("code: https://github.com/org/repo\n", "code", "local folder"),
        ("code: portal:code/abc\n", "code", "64 hex digits"),
    ],
)  # fmt: skip
def test_wrong_values_name_the_field(extra, path, words):
    error = only_error(BASE + extra)
    assert error.path == path
    assert words in error.message


@pytest.mark.parametrize("name", ["Train", "1train", "train_1", "train-", "a" * 64, "tr ain"])
def test_bad_names_state_the_rule(name):
    error = only_error(BASE + f"name: '{name}'\n")
    assert error.path == "name"
    assert "lowercase letters, digits and dashes, starting with a letter" in error.message


def test_good_names():
    for name in ("a", "train-1", "a" * 63):
        assert validate(BASE + f"name: {name}\n")["name"] == name


@pytest.mark.parametrize(
    ("compute", "words"),
    [("azureml:GPU", "not a compute target name"), ("'a_b'", "not a compute target name"),
     ("[a]", "must be text")],
)  # fmt: skip
def test_bad_compute(compute, words):
    text = BASE.replace("azureml:cpu-target", compute)
    error = only_error(text)
    assert error.path == "compute"
    assert words in error.message


def test_required_fields():
    found = {error.path: error.message for error in errors("name: x\n")}
    assert set(found) == {"command", "environment", "compute"}
    assert "is required" in found["command"]
    assert only_error(BASE.replace("python train.py", "'  '")).path == "command"


@pytest.mark.parametrize(
    ("environment", "words"),
    [
        ("azureml:my-env", "needs a version"),
        ("pytorch/pytorch:2.5.1", "environment: {image: pytorch/pytorch:2.5.1}"),
        ("azureml://registries/azureml/environments/x/versions/1", "registry reference"),
        ("{build: {path: ./docker}}", "building images is not supported"),
        ("{image: x, conda_file: env.yml}", "building images is not supported"),
        ("{name: x}", "`environment.image` is required"),
        ("{image: 'my image'}", "container image reference"),
        ("{image: x, os_type: windows}", "only Linux"),
        ("[x]", "must be a mapping"),
    ],
)
def test_bad_environments(environment, words):
    text = f"command: x\ncompute: c\nenvironment: {environment}\n"
    messages = [error.message for error in errors(text)]
    assert any(words in message for message in messages), messages


@pytest.mark.parametrize(
    ("inputs", "path", "words"),
    [
        ("d: {path: ./data}", "inputs.d.path", "local path"),
        ("d: {path: /mnt/data}", "inputs.d.path", "local path"),
        ("d: {path: 'azureml://datastores/ws/paths/x'}", "inputs.d.path",
         "datastores are an Azure feature; use an http(s) URL or pvc://claim/path"),
        ("d: {path: 'azureml:iris:1'}", "inputs.d.path", "datastores are an Azure feature"),
        ("d: {path: 's3://bucket/x'}", "inputs.d.path", "s3://"),
        ("d: {type: mlflow_model, path: 'http://x/m'}", "inputs.d.type", "uri_folder"),
        ("d: {type: custom_model, path: 'http://x/m'}", "inputs.d.type", "models are"),
        ("d: {type: mltable, path: 'http://x/m'}", "inputs.d.type", "MLTable"),
        ("d: {type: blob, path: 'http://x/m'}", "inputs.d.type", "uri_folder, uri_file"),
        ("d: {path: 'http://x/m', mode: rw_mount}", "inputs.d.mode", "ro_mount, download"),
        ("d: {type: uri_file}", "inputs.d.path", "is required"),
        ("d: {type: uri_file, path: 'https://x.org/dir/'}", "inputs.d.path", "name a file"),
        ("d: {type: uri_file, path: 'pvc://claim'}", "inputs.d.path", "name a file"),
        ("d: {path: 'pvc://Claim/x'}", "inputs.d.path", "not a valid pvc path"),
        ("d: {path: 'pvc://claim/../x'}", "inputs.d.path", "not a valid pvc path"),
        ("d: {path: 'pvc://claim/x', mode: direct}", "inputs.d.mode", "use ro_mount"),
        ("d: {path: 'http://'}", "inputs.d.path", "not a complete URL"),
        ("d:", "inputs.d", "must be a literal"),
        ("d: [1, 2]", "inputs.d", "must be a literal"),
        ("1d: 3", "inputs.1d", "not allowed"),
    ],
)  # fmt: skip
def test_bad_inputs(inputs, path, words):
    error = only_error(BASE + f"inputs:\n  {inputs}\n")
    assert error.path == path
    assert words in error.message


def test_inputs_differing_only_in_case_are_refused():
    error = only_error(BASE + "inputs:\n  data: 1\n  DATA: 2\n")
    assert "only in case" in error.message


@pytest.mark.parametrize(
    ("outputs", "path", "words"),
    [
        ("m: {path: 'azureml://datastores/x/paths/y'}", "outputs.m.path", "datastores"),
        ("m: {path: ./out}", "outputs.m.path", "local path"),
        ("m: {path: 'https://x.org/up'}", "outputs.m.path", "pvc://claim/path"),
        ("m: {mode: direct}", "outputs.m.mode", "rw_mount, upload"),
        ("m: {type: mlflow_model}", "outputs.m.type", "uri_folder, uri_file"),
        ("m: {type: uri_file, path: 'pvc://claim'}", "outputs.m.path", "name a file"),
        ("m: {path: 'pvc://UPPER/x'}", "outputs.m.path", "not a valid pvc path"),
        ("m: 3", "outputs.m", "must be a mapping"),
    ],
)  # fmt: skip
def test_bad_outputs(outputs, path, words):
    error = only_error(BASE + f"outputs:\n  {outputs}\n")
    assert error.path == path
    assert words in error.message


@pytest.mark.parametrize(
    ("extra", "path", "words"),
    [
        ("distribution:\n  type: ray\n", "distribution.type", "Ray"),
        ("distribution:\n  type: horovod\n", "distribution.type", "pytorch, mpi, tensorflow"),
        ("distribution:\n  type: mpi\n", "distribution.process_count_per_instance",
         "required for mpi"),
        ("distribution:\n  type: pytorch\n  process_count_per_instance: 0\n",
         "distribution.process_count_per_instance", "integer ≥ 1"),
        ("distribution:\n  type: tensorflow\n  worker_count: 2\n", "distribution.worker_count",
         "must equal resources.instance_count (1)"),
        ("resources:\n  instance_count: 2\ndistribution:\n  type: tensorflow\n"
         "  parameter_server_count: 1\n", "distribution.worker_count", "set it to 3"),
        ("distribution:\n  type: pytorch\nenvironment_variables:\n  MASTER_ADDR: x\n",
         "environment_variables.MASTER_ADDR", "set by the portal for pytorch"),
        ("distribution: [pytorch]\n", "distribution", "must be a mapping"),
    ],
)  # fmt: skip
def test_bad_distributions(extra, path, words):
    error = only_error(BASE + extra)
    assert error.path == path
    assert words in error.message


def test_undeclared_references_in_command_are_named():
    text = BASE.replace("python train.py", "run ${{inputs.data}} ${{outputs.model}}")
    found = sorted(error.message for error in errors(text))
    assert "no input `data` is declared" in found[0]
    assert "no output `model` is declared" in found[1]


@pytest.mark.parametrize(
    "command",
    ["run ${{search_space.lr}}", "run ${{parent.inputs.x}}", "run $[[--x ${{inputs.a}}]]"],
)
def test_unsupported_expressions_in_command(command):
    text = BASE.replace("python train.py", f"'{command}'") + "inputs:\n  a: 1\n"
    assert only_error(text).path == "command"


def test_spec_error_message_lists_positions():
    with pytest.raises(SpecError) as caught:
        validate(BASE + "resources:\n  gpu: 1\n")
    assert str(caught.value).startswith("line 6, column 3: unknown field `resources.gpu`")


def test_a_declared_but_invalid_input_is_still_declared():
    """One error, on the input's path, not a second one claiming it was never declared."""
    found = errors(
        BASE.replace("python train.py", "python train.py --data ${{inputs.data}}")
        + "inputs:\n  data:\n    type: uri_folder\n    path: azureml://datastores/x/paths/y\n"
    )
    assert [e.path for e in found] == ["inputs.data.path"], [str(e) for e in found]
    assert "datastores are an Azure feature" in str(found[0])
