"""Artifacts on a Django storage backend (``STORAGES["artifacts"]``): files under the data
folder in the embedded mode, an S3-compatible bucket in production.

Paths are the proxy's (``<experiment id>/<run id>/artifacts/<path>``), checked before use:
no ``..``, no absolute path, no backslash or NUL. Each workspace's files are kept under a
folder of its own, so a path can never reach another workspace's files."""

import posixpath
from dataclasses import dataclass

from django.conf import settings
from django.core.files.base import File
from django.core.files.storage import storages

from tracking.errors import MlflowError, invalid

CHUNK = 1024 * 1024


def storage():
    return storages["artifacts"]


def clean(path: str) -> str:
    """``path`` made relative and checked; raises INVALID_PARAMETER_VALUE for anything that
    would leave its folder."""
    path = path or ""
    if "\x00" in path or "\\" in path:
        raise invalid(f"Invalid artifact path '{path[:100]}': no backslashes or NUL characters.")
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        raise invalid(f"Invalid artifact path '{path[:100]}': use a relative path.")
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise invalid(f"Invalid artifact path '{path[:100]}': '..' is not allowed.")
    return "/".join(parts)


def _key(workspace_id: int, path: str) -> str:
    return f"ws-{int(workspace_id)}/{path}" if path else f"ws-{int(workspace_id)}"


@dataclass(frozen=True)
class Entry:
    path: str  # relative to the folder listed
    is_dir: bool
    size: int | None


def listing(workspace_id: int, path: str) -> list[Entry]:
    """The entries of folder ``path`` (a file lists as itself, an unknown path as nothing)."""
    store = storage()
    key = _key(workspace_id, path)
    try:
        dirs, files = store.listdir(key)
    except (FileNotFoundError, NotADirectoryError):
        dirs, files = [], []
    if not dirs and not files and path and store.exists(key):
        name = posixpath.basename(path)
        return [Entry(name, False, store.size(key))]
    entries = [Entry(d, True, None) for d in sorted(dirs)]
    entries += [Entry(f, False, store.size(f"{key}/{f}")) for f in sorted(files)]
    return entries


def walk(workspace_id: int, path: str) -> list[Entry]:
    """Every file under ``path``, with paths relative to it."""
    found = []
    for entry in listing(workspace_id, path):
        if entry.is_dir:
            inner = f"{path}/{entry.path}" if path else entry.path
            found += [
                Entry(f"{entry.path}/{e.path}", False, e.size) for e in walk(workspace_id, inner)
            ]
        else:
            found.append(entry)
    return found


class _Limited:
    """A request body read in chunks, refused past the size limit."""

    def __init__(self, stream, limit: int) -> None:
        self.stream, self.limit, self.read_so_far = stream, limit, 0

    closed = False

    def seekable(self) -> bool:
        return False

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(CHUNK if size is None or size < 0 else size)
        self.read_so_far += len(data)
        if self.read_so_far > self.limit:
            raise TooLarge(self.limit)
        return data


class TooLarge(MlflowError):
    def __init__(self, limit: int) -> None:
        super().__init__(
            "INVALID_PARAMETER_VALUE",
            f"The artifact is larger than {limit} bytes (PORTAL_ARTIFACT_MAX_BYTES).",
        )

    @property
    def status(self) -> int:
        return 413


def save(workspace_id: int, path: str, stream, length: int | None) -> int:
    """Stores the body of an upload at ``path`` (replacing what was there)."""
    limit = settings.ARTIFACT_MAX_BYTES
    if length is not None and length > limit:
        raise TooLarge(limit)
    if not path:
        raise invalid("An artifact upload needs a file path.")
    store = storage()
    key = _key(workspace_id, path)
    body = _Limited(stream, limit)
    try:
        store.save(key, File(body, name=posixpath.basename(path)))
    except TooLarge:
        if store.exists(key):
            store.delete(key)
        raise
    return body.read_so_far


def open_file(workspace_id: int, path: str):
    """The file at ``path`` opened for reading, or None when there is no such file."""
    store = storage()
    key = _key(workspace_id, path)
    if not path or not store.exists(key):
        return None
    try:
        return store.open(key, "rb")
    except (IsADirectoryError, FileNotFoundError):
        return None


def size(workspace_id: int, path: str) -> int:
    return storage().size(_key(workspace_id, path))


def delete(workspace_id: int, path: str) -> None:
    store = storage()
    for entry in walk(workspace_id, path):
        store.delete(_key(workspace_id, f"{path}/{entry.path}" if path else entry.path))
    key = _key(workspace_id, path)
    if path and store.exists(key):
        try:
            store.delete(key)
        except (IsADirectoryError, OSError):
            pass
