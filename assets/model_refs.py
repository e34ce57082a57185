"""How models are named and where their files come from, as text (no Django here: the
command-line client reads these too).

A model's ``path`` is one of: an upload (the CLI packs a local file or folder),
``runs:/<run-id>/<path>`` or ``azureml://jobs/<job>/outputs/artifacts/paths/<path>`` (a
run's artifacts, copied into the model), an ``http(s)://`` URL or ``pvc://<claim>/<path>``
(recorded; fetched where the model is used). Specs refer to a model as
``azureml:<name>:<version>`` or ``azureml:<name>@latest``.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,254}$")
VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
NAME_RULE = "start with a letter; letters, digits, '-', '_' and '.'; at most 255 characters"
VERSION_RULE = "letters, digits, '-', '_' and '.', starting with a letter or digit; at most 64"
_RUN_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_JOB = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
_CLAIM = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_JOB_PATH = re.compile(r"^azureml://jobs/([^/]*)/outputs/artifacts/paths/?(.*)$")
_MODEL_REF = re.compile(r"^azureml:([^:@/]+)(?::([^:@/]+)|@(latest))$")
SOURCE_KINDS = ("upload", "run", "url", "pvc")
SOURCE_HELP = (
    "give a local file or folder (kp uploads it), runs:/<run-id>/<path>, "
    "azureml://jobs/<job>/outputs/artifacts/paths/<path>, an http(s):// URL or "
    "pvc://<claim>/<path>"
)


class SourceError(ValueError):
    """The path is refused; the message says why and what to give instead."""


@dataclass(frozen=True)
class Source:
    """Where a model's files come from. ``kind``: ``run`` (``run_id`` or ``job``, and
    ``path`` inside the run's artifacts), ``url`` (``uri``), ``pvc`` (``claim``, ``path``)."""

    kind: str
    uri: str
    run_id: str = ""
    job: str = ""
    claim: str = ""
    path: str = ""


def clean_path(path: str) -> str:
    """``path`` made relative and checked: no NUL, backslash, absolute path or ``..``."""
    if "\x00" in path or "\\" in path:
        raise SourceError(f"the path {path[:100]!r} has a backslash or NUL character")
    if path.startswith("/"):
        raise SourceError(f"the path {path[:100]!r} must be relative")
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise SourceError(f"the path {path[:100]!r} contains '..'")
    return "/".join(parts)


def is_uri(text: str) -> bool:
    """True when ``text`` is a remote source rather than a local file or folder."""
    return text.startswith(("runs:/", "azureml:", "http://", "https://", "pvc://"))


def parse_source(text: str) -> Source:
    """The ``Source`` a remote path names; raises SourceError saying what is wrong."""
    text = text.strip()
    if text.startswith("runs:/"):
        run_id, _, inner = text.removeprefix("runs:/").lstrip("/").partition("/")
        if not _RUN_ID.match(run_id):
            raise SourceError(f"{text!r} names no run: use runs:/<run-id>/<path>")
        return Source("run", text, run_id=run_id, path=clean_path(inner))
    if text.startswith("azureml://jobs/"):
        match = _JOB_PATH.match(text)
        if not match or not _JOB.match(match.group(1)):
            raise SourceError(
                f"{text!r} is not a job output path: use "
                "azureml://jobs/<job>/outputs/artifacts/paths/<path>"
            )
        return Source("run", text, job=match.group(1), path=clean_path(match.group(2)))
    if text.startswith("azureml:"):
        raise SourceError(
            f"{text!r}: datastore and registry paths are not supported; upload the files "
            "or use a run's artifacts, an http(s) URL or a pvc:// path"
        )
    if text.startswith(("http://", "https://")):
        return _url_source(text)
    if text.startswith("pvc://"):
        claim, _, inner = text.removeprefix("pvc://").partition("/")
        if not claim or len(claim) > 253 or not _CLAIM.match(claim):
            raise SourceError(
                f"{text!r}: the claim name must be a Kubernetes name (lower-case letters, "
                "digits, '-' and '.'): use pvc://<claim>/<path>"
            )
        return Source("pvc", text, claim=claim, path=clean_path(inner))
    raise SourceError(f"{text[:100]!r} is not a path the portal can use: {SOURCE_HELP}")


def _url_source(text: str) -> Source:
    if len(text) > 2000:
        raise SourceError("the URL is longer than 2000 characters")
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise SourceError(f"{text[:100]!r} is not a valid URL ({exc})") from None
    if not parts.hostname:
        raise SourceError(f"{text[:100]!r} has no host name")
    if parts.username or parts.password:
        raise SourceError(
            "the URL carries a user name or password, which would be shown to everyone "
            "in the workspace: give a URL that needs no credentials"
        )
    if any(ch.isspace() for ch in text):
        raise SourceError("the URL contains spaces; encode them as %20")
    return Source("url", text)


def parse_model_ref(text: str) -> tuple[str, str | None]:
    """(name, version) of ``azureml:<name>:<version>``, or (name, None) for
    ``azureml:<name>@latest``; raises SourceError otherwise."""
    match = _MODEL_REF.match(text.strip())
    if not match or not NAME.match(match.group(1)):
        raise SourceError(
            f"{text[:100]!r} is not a model reference: use azureml:<name>:<version> or "
            "azureml:<name>@latest"
        )
    return match.group(1), (None if match.group(3) else match.group(2))


def file_name(path: str) -> str:
    """The base name of a local file, as stored for a one-file model."""
    return posixpath.basename(path.replace("\\", "/"))
