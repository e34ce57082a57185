"""Specs the portal reads from YAML: the shared base (``base``) and the command job
(``command``, with its inputs and outputs in ``io``)."""

from jobs.spec.base import Document, FieldError, SpecError, scalar_text
from jobs.spec.command import (
    load_job,
    parse_job_yaml,
    parse_shm_size,
    references,
    substitute_command,
    validate_job_spec,
)

__all__ = [
    "Document",
    "FieldError",
    "SpecError",
    "load_job",
    "parse_job_yaml",
    "parse_shm_size",
    "references",
    "scalar_text",
    "substitute_command",
    "validate_job_spec",
]
