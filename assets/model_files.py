"""A model's files on the artifacts storage (``STORAGES["artifacts"]``: a folder under the
data directory in the embedded mode, the S3 bucket when one is set), under
``models/ws-<workspace>/<folder>/<path>``: beside the runs' artifacts (which tracking keeps
under ``ws-<workspace>/``), never among them.

Files are written before the model's row exists, into a folder of a fresh uuid, so a row
always has all its files; what a failed creation wrote is deleted."""

import posixpath
import tarfile

from django.core.files.base import File
from django.core.files.storage import storages

from assets.model_refs import SourceError, clean_path

CHUNK = 1 << 20


class TooLarge(ValueError):
    """The model's files pass the size limit."""


def storage():
    return storages["artifacts"]


class _Capped:
    """A stream read in chunks that raises TooLarge once the running total passes ``limit``."""

    closed = False

    def __init__(self, stream, budget: "Budget") -> None:
        self.stream, self.budget = stream, budget

    def seekable(self) -> bool:
        return False

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(CHUNK if size is None or size < 0 else size)
        self.budget.spend(len(data))
        return data


class Budget:
    """Bytes a model may still take."""

    def __init__(self, limit: int) -> None:
        self.limit, self.used = limit, 0

    def spend(self, size: int) -> None:
        self.used += size
        if self.used > self.limit:
            raise TooLarge(
                f"The model's files are larger than the limit of {self.limit} bytes "
                "(PORTAL_MODEL_MAX_BYTES); leave out what the model does not need, or keep it "
                "on a claim (pvc://) or at a URL."
            )


class Writer:
    """Writes the files of one new model under ``prefix``; ``discard()`` deletes them."""

    def __init__(self, prefix: str, limit: int) -> None:
        self.prefix, self.budget = prefix, Budget(limit)
        self.written: list[dict] = []

    def put(self, path: str, stream) -> None:
        key = f"{self.prefix}/{path}"
        body = _Capped(stream, self.budget)
        before = self.budget.used
        # An archive may name one path twice ("a" and "./a"): the last one is kept, as tar does.
        self.written = [entry for entry in self.written if entry["path"] != path]
        self.written.append({"path": path, "size": 0})
        storage().save(key, File(body, name=posixpath.basename(path)))
        self.written[-1]["size"] = self.budget.used - before

    def discard(self) -> None:
        store = storage()
        for entry in self.written:
            try:
                store.delete(f"{self.prefix}/{entry['path']}")
            except OSError:
                pass

    @property
    def files(self) -> list[dict]:
        return sorted(self.written, key=lambda e: e["path"])


def archive_members(handle) -> list[tarfile.TarInfo]:
    """The files of a checked archive (``archives.inspect_archive`` passed), links included
    (read as what they point to)."""
    handle.seek(0)
    archive = tarfile.open(fileobj=handle, mode="r:*")
    members = [m for m in archive.getmembers() if m.isreg() or m.issym() or m.islnk()]
    handle.seek(0)
    return members


def write_archive(writer: Writer, handle) -> None:
    """Unpacks a checked archive's files into ``writer``."""
    handle.seek(0)
    with tarfile.open(fileobj=handle, mode="r:*") as archive:
        for member in archive.getmembers():
            if not (member.isreg() or member.issym() or member.islnk()):
                continue
            try:
                source = archive.extractfile(member)
            except KeyError:  # a link to something the archive does not hold
                source = None
            if source is None:
                raise SourceError(f"the archive entry {member.name!r} links to nothing in it")
            writer.put(clean_path(member.name), source)


def member_paths(members: list[tarfile.TarInfo]) -> list[str]:
    return [clean_path(m.name) for m in members]


def open_file(model, path: str):
    """The model's file ``path`` opened for reading, or None when it has no such file."""
    if not any(entry["path"] == path for entry in model.files):
        return None
    try:
        return storage().open(f"{model.storage_prefix}/{path}", "rb")
    except (FileNotFoundError, IsADirectoryError):
        return None
