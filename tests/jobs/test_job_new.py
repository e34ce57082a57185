"""The "Submit a job" page: its YAML and form panes keep their own input and errors."""

import html
import re

import pytest

from jobs.forms import JobForm
from jobs.models import Job

pytestmark = pytest.mark.django_db(transaction=True)

BAD_YAML = "type: command\ncommand: echo hi\nenvironment:\n  image: x\ncompute: azureml:nope\n"
MY_YAML = "type: command\n# my own draft\ncommand: echo mine\n"
# What the form pane holds when the YAML pane is submitted (the page sends both panes).
FORM_PANE = {
    "name": "kept-name",
    "experiment_name": "kept-exp",
    "compute": "gpu-target",
    "instance_count": "2",
    "image": "python:3.12-slim",
    "command": "echo kept",
}


def panes(page: str) -> tuple[str, str]:
    """The YAML pane's and the form pane's HTML."""
    yaml_pane, form_pane = page.split('id="form-pane"', 1)
    return yaml_pane.split('id="yaml-pane"', 1)[1], form_pane


def textarea(pane: str, name: str) -> str:
    return html.unescape(
        re.search(rf'<textarea[^>]*name="{name}"[^>]*>(.*?)</textarea>', pane, re.S)[1]
    )


def test_a_bad_yaml_submit_shows_its_errors_in_the_yaml_pane_only(compute_ready, client_for):
    response = client_for("scientist").post(
        "/jobs/team-a/new", {"mode": "yaml", "yaml": BAD_YAML, **FORM_PANE}
    )
    assert response.status_code == 400
    yaml_pane, form_pane = panes(response.content.decode())
    assert "no compute target “nope”" in yaml_pane
    assert textarea(yaml_pane, "yaml").strip() == BAD_YAML.strip()
    # The form pane was not submitted: no errors, and what it held is still there.
    assert "This field is required" not in form_pane
    assert 'class="error"' not in form_pane and "has-error" not in form_pane
    assert 'value="kept-name"' in form_pane and 'value="kept-exp"' in form_pane
    assert '<option value="gpu-target" selected>' in form_pane
    assert 'value="2"' in form_pane and textarea(form_pane, "command").strip() == "echo kept"
    assert not Job.objects.exists()


def test_a_bad_yaml_submit_alone_leaves_the_form_pane_fresh(compute_ready, client_for):
    response = client_for("scientist").post("/jobs/team-a/new", {"mode": "yaml", "yaml": BAD_YAML})
    assert response.status_code == 400
    yaml_pane, form_pane = panes(response.content.decode())
    assert "no compute target “nope”" in yaml_pane
    assert "This field is required" not in form_pane and 'class="error"' not in form_pane
    assert 'value="Default"' in form_pane


def test_a_bad_form_submit_keeps_the_yaml_editor(compute_ready, client_for):
    response = client_for("scientist").post(
        "/jobs/team-a/new",
        {"mode": "form", "yaml": MY_YAML, **FORM_PANE, "command": "", "instance_count": "0"},
    )
    assert response.status_code == 400
    yaml_pane, form_pane = panes(response.content.decode())
    assert "Command: This field is required." in form_pane
    assert "Instance count: Ensure this value is greater than or equal to 1." in form_pane
    assert 'value="kept-name"' in form_pane
    assert textarea(yaml_pane, "yaml").strip() == MY_YAML.strip()
    assert "empty file" not in yaml_pane and 'class="error"' not in yaml_pane


def test_a_form_submit_the_spec_refuses_keeps_the_yaml_editor(compute_ready, client_for):
    """Errors found once the form became a spec go to the form pane, not the YAML pane."""
    response = client_for("scientist").post(
        "/jobs/team-a/new",
        {"mode": "form", "yaml": MY_YAML, **FORM_PANE, "environment_variables": "oops"},
    )
    assert response.status_code == 400
    yaml_pane, form_pane = panes(response.content.decode())
    assert "“oops” is not KEY=value" in form_pane
    assert textarea(yaml_pane, "yaml").strip() == MY_YAML.strip()
    assert 'class="error"' not in yaml_pane


def test_a_bad_form_submit_alone_offers_the_starting_yaml(compute_ready, team_a, client_for):
    response = client_for("scientist").post(
        "/jobs/team-a/new", {"mode": "form", **FORM_PANE, "command": ""}
    )
    assert response.status_code == 400
    yaml_pane, _ = panes(response.content.decode())
    assert textarea(yaml_pane, "yaml") == JobForm.example(team_a)


def test_a_good_yaml_submit_still_submits(compute_ready, client_for):
    good = BAD_YAML.replace("azureml:nope", "azureml:cpu-target") + "name: from-yaml\n"
    response = client_for("scientist").post(
        "/jobs/team-a/new", {"mode": "yaml", "yaml": good, **FORM_PANE}
    )
    assert response.status_code == 302
    assert Job.objects.get().name == "from-yaml"
