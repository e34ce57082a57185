"""Reading a job YAML file and packing the local code folder it names.

Syntax is checked locally (``jobs.spec.parse_job_yaml``, installed with kp) so mistakes are shown
as ``job.yml:LINE:COL: message`` before anything is uploaded; every other rule is the portal's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assets.archives import ArchiveError, pack_folder
from cli.errors import UsageError
from jobs.spec import SpecError, parse_job_yaml

PORTAL_PREFIX = "portal:"
DEFAULT_MAX_CODE_BYTES = 100 * 1024 * 1024
ENV_MAX_CODE_BYTES = "KP_MAX_CODE_BYTES"


@dataclass
class JobFile:
    """A job file as read: its path (as the user spelled it), text and top-level mapping."""

    path: Path
    text: str
    data: dict[str, Any]

    @property
    def label(self) -> str:
        """The file name used in messages."""
        return str(self.path)


def read_job_file(path: str) -> JobFile:
    """Reads and parses ``path``; raises UsageError with ``file:line:col: message`` lines."""
    file_path = Path(path)
    try:
        text = file_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a folder, not a job YAML file") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path}: is not UTF-8 text") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return JobFile(file_path, text, parse_job_text(text, path))


def parse_job_text(text: str, label: str) -> dict[str, Any]:
    """Parses YAML job text, reporting problems against ``label``."""
    try:
        return parse_job_yaml(text)
    except SpecError as exc:
        raise UsageError(
            [located(label, e.line, e.column, e.message) for e in exc.errors]
        ) from None


def located(label: str, line: int | None, column: int | None, message: str) -> str:
    """``label:line:col: message`` (or ``label:line: ...`` / ``label: ...`` when unknown)."""
    where = label
    if line:
        where += f":{line}"
        if column:
            where += f":{column}"
    return f"{where}: {message}"


def local_code_value(value: Any) -> str | None:
    """Returns ``value`` when it names a local folder (to upload), else None.

    ``portal:code/<sha256>`` references and values the portal refuses anyway (azureml: assets,
    URLs) are left for the portal to judge.
    """
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip()
    if value.startswith((PORTAL_PREFIX, "azureml:")) or "://" in value:
        return None
    return value


def resolve_code_folder(job_file: JobFile, value: str) -> Path:
    """Returns the folder ``value`` names, relative to the job file's folder."""
    folder = Path(value).expanduser()
    if not folder.is_absolute():
        folder = job_file.path.parent / folder
    if not folder.exists():
        raise UsageError(f"{job_file.label}: code folder {value!r} does not exist ({folder})")
    if not folder.is_dir():
        raise UsageError(f"{job_file.label}: code {value!r} is not a folder ({folder})")
    return folder


def max_code_bytes() -> int:
    """The archive size limit: ``$KP_MAX_CODE_BYTES`` or 100 MiB."""
    raw = os.environ.get(ENV_MAX_CODE_BYTES, "")
    if raw.strip().isdigit() and int(raw) > 0:
        return int(raw)
    return DEFAULT_MAX_CODE_BYTES


def pack_code(folder: Path) -> bytes:
    """Returns the deterministic .tar.gz of ``folder``; raises UsageError when it cannot."""
    try:
        return pack_folder(str(folder), max_bytes=max_code_bytes())
    except ArchiveError as exc:
        raise UsageError(f"{folder}: cannot pack the code folder: {exc}") from None
    except OSError as exc:
        raise UsageError(f"{folder}: cannot read the code folder: {exc}") from None
