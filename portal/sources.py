"""What other apps can tell the model registry about the things a model is made from.

``assets`` keeps a model's lineage as plain strings (a job name, a run id) and imports
neither ``jobs`` nor ``tracking``; those apps add these providers to the registry from
their ``AppConfig.ready``, and ``assets`` asks ``registry.get(Type, key)`` for them:

- ``RunArtifacts`` (tracking): the files of a run's artifacts under a path, and each
  file opened for reading, always within one workspace;
- ``JobRuns`` (jobs): the run of a job, and the job of a run.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

# (path relative to the folder asked for, size in bytes)
FileList = list[tuple[str, int]]


@dataclass(frozen=True)
class RunArtifacts:
    """``files(workspace_id, run_id, path)``: every file under ``path`` of the run's
    artifacts (a file lists as itself, with its base name), or None when the workspace has
    no such run. ``open(workspace_id, run_id, path)``: that file opened for reading, or
    None."""

    files: Callable[[int, str, str], FileList | None]
    open: Callable[[int, str, str], BinaryIO | None]
    key: str = "runs"


@dataclass(frozen=True)
class JobRuns:
    """``run_of(workspace_id, job_name)``: the run id of that job, or None (no such job,
    or it has no run). ``job_of(workspace_id, run_id)``: the name of the job whose run it
    is, or None."""

    run_of: Callable[[int, str], str | None]
    job_of: Callable[[int, str], str | None]
    key: str = "jobs"
