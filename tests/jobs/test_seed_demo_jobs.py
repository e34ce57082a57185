"""The demo's training sample is submitted once, as team-a's data scientist."""

import pytest
from django.core.management import call_command

from jobs.models import Job

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_sample_is_submitted_once(compute_ready, personas):
    call_command("seed_demo_jobs")
    call_command("seed_demo_jobs")
    job = Job.objects.get(experiment_name="digits")
    assert job.created_by == personas["scientist"]
    assert job.workspace.slug == "team-a" and job.compute.name == "cpu-target"
    assert job.spec["code"] and "train.py" in job.spec["command"]
    assert job.run is not None and job.run.experiment.name == "digits"


def test_no_data_scientist_no_sample(db, team_a):
    call_command("seed_demo_jobs")
    assert not Job.objects.exists()
