"""Code folders uploaded with a job: checking archives the portal receives, packing them in the CLI.

An archive is a .tar or .tar.gz. ``inspect_archive`` reads it once, as a stream, and refuses
anything that could write outside the extraction folder or blow up when extracted;
``pack_folder`` builds a byte-for-byte reproducible .tar.gz so the same folder always has the
same sha256 (and is uploaded once).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import posixpath
import stat
import tarfile
import tempfile
import zlib
from dataclasses import dataclass
from typing import BinaryIO

SKIPPED_NAMES = frozenset({".git", "__pycache__", ".venv"})
_CHUNK = 1 << 16
_GZIP_MAGIC = b"\x1f\x8b"


class ArchiveError(ValueError):
    """The archive or folder is refused; the message says what is wrong and what to do."""


@dataclass(frozen=True)
class ArchiveInfo:
    """What was checked: sha256 (hex) and size of the bytes as uploaded, and the file count."""

    sha256: str
    size: int
    files: int


class _TooLarge(Exception):
    """Raised inside tarfile's reads; kept apart from the errors tarfile itself may catch."""


class _CountingReader(io.RawIOBase):
    """A read-only stream that raises _TooLarge once more than ``limit`` bytes were read."""

    def __init__(self, source: BinaryIO, limit: int):
        self.source, self.limit, self.count = source, limit, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        data = self.source.read(min(len(buffer), _CHUNK))
        self.count += len(data)
        if self.count > self.limit:
            raise _TooLarge
        buffer[: len(data)] = data
        return len(data)


def _mib(size: int) -> str:
    return f"{size / (1 << 20):.1f} MiB"


def _too_large(what: str, size: int | None, max_bytes: int, subject: str = "code") -> ArchiveError:
    """``what`` leads up to the size: "archive is", "folder's files total", ..."""
    shown = f"{_mib(size)} ({size} bytes)" if size is not None else f"more than {max_bytes} bytes"
    advice = (
        "Keep data and checkpoints out of the code folder and pass them as inputs instead"
        if subject == "code"
        else "Leave out what the model does not need, or keep it on a claim (pvc://) or at a URL"
    )
    return ArchiveError(
        f"the {subject} {what} {shown}; the limit is {_mib(max_bytes)} ({max_bytes} bytes). "
        + advice
    )


def _stream_size(fileobj: BinaryIO, read: int) -> int | None:
    """Returns the full size of a seekable upload (to report it), None for a pure stream."""
    try:
        return max(fileobj.seek(0, os.SEEK_END), read)
    except (OSError, AttributeError, ValueError):
        return None


def _inside(path: str) -> bool:
    """True when the relative POSIX ``path`` stays in the extraction folder."""
    normal = posixpath.normpath(path)
    return not (normal.startswith("/") or normal == ".." or normal.startswith("../"))


def _check_member(member: tarfile.TarInfo) -> None:
    name = member.name
    if name.startswith("/") or (len(name) > 1 and name[1] == ":") or "\\" in name:
        raise ArchiveError(
            f"the archive entry {name!r} has an absolute path; pack the folder with relative paths"
        )
    if ".." in name.split("/"):
        raise ArchiveError(f"the archive entry {name!r} contains '..'; remove it from the archive")
    if member.isreg() or member.isdir():
        return
    if member.issym():
        target = member.linkname
        resolved = posixpath.join(posixpath.dirname(name), target)
        if target.startswith("/") or not _inside(resolved):
            raise ArchiveError(
                f"the symlink {name!r} points to {target!r}, outside the code folder; "
                "copy the file into the folder instead"
            )
        return
    if member.islnk():
        if member.linkname.startswith("/") or not _inside(member.linkname):
            raise ArchiveError(
                f"the hard link {name!r} points to {member.linkname!r}, outside the code folder; "
                "copy the file into the folder instead"
            )
        return
    if member.ischr() or member.isblk():
        kind = "device file"
    elif member.isfifo():
        kind = "FIFO"
    else:
        kind = "special entry"
    raise ArchiveError(
        f"the archive entry {name!r} is a {kind}; only files, folders and links inside the "
        "folder are allowed"
    )


MAX_LINK_HOPS = 40  # as Linux follows at most 40 symlinks in one path


def _check_link_chains(links: dict[str, str]) -> None:
    """Raises ArchiveError when a symlink, followed through the archive's other symlinks
    (each checked alone already), leads outside the folder or loops: ``a -> .`` and
    ``b -> a/..`` each look inside, but ``b`` is the folder's parent once unpacked."""
    for name, target in links.items():
        if not _resolves_inside(posixpath.join(posixpath.dirname(name), target), links):
            raise ArchiveError(
                f"the symlink {name!r} points to {target!r}, which through the archive's "
                "other symlinks leads outside the code folder (or loops); copy the file into "
                "the folder instead"
            )


def _resolves_inside(path: str, links: dict[str, str]) -> bool:
    """True when ``path`` (relative to the folder), with the archive's symlinks followed
    as a filesystem would, stays inside the folder within MAX_LINK_HOPS links."""
    pending = [part for part in path.split("/") if part not in ("", ".")]
    current: list[str] = []
    hops = 0
    while pending:
        part = pending.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if not current:
                return False
            current.pop()
            continue
        candidate = "/".join([*current, part])
        if candidate in links:
            hops += 1
            target = links[candidate]
            if hops > MAX_LINK_HOPS or target.startswith("/"):
                return False
            pending = target.split("/") + pending  # relative to the link's folder
            continue
        current.append(part)
    return True


def inspect_archive(
    fileobj: BinaryIO, *, max_bytes: int, max_files: int = 100_000, subject: str = "code"
) -> ArchiveInfo:
    """Reads a .tar or .tar.gz stream to its end and returns its sha256, size and file count.

    Guarantees on return: the upload and its uncompressed tar stream are each at most
    ``max_bytes``; every entry is a regular file, a folder, or a symlink/hard link whose target
    stays inside the tree; no entry has an absolute path or a '..' component; at most
    ``max_files`` entries. Otherwise raises ArchiveError saying why (with sizes and the limit).
    Decompression stops as soon as the limit is passed, so a gzip bomb costs at most
    ``max_bytes`` of work. ``subject`` ("code", "model") is what the messages call it.
    """
    digest = hashlib.sha256()
    size = 0
    with tempfile.SpooledTemporaryFile(max_size=8 << 20) as spool:
        while chunk := fileobj.read(_CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise _too_large("archive is", _stream_size(fileobj, size), max_bytes, subject)
            digest.update(chunk)
            spool.write(chunk)
        if size == 0:
            raise ArchiveError(
                f"the {subject} archive is empty; upload a .tar.gz of your {subject} folder"
            )
        spool.seek(0)
        compressed = spool.read(2) == _GZIP_MAGIC
        spool.seek(0)
        source: BinaryIO = gzip.GzipFile(fileobj=spool, mode="rb") if compressed else spool  # type: ignore[assignment]
        reader = io.BufferedReader(_CountingReader(source, max_bytes), _CHUNK)
        files = entries = 0
        links: dict[str, str] = {}
        try:
            # Stream mode ("r|") reads strictly forward, so every byte passes the counter.
            with tarfile.open(fileobj=reader, mode="r|") as archive:
                for member in archive:
                    entries += 1
                    if entries > max_files:
                        raise ArchiveError(
                            f"the {subject} archive has more than {max_files} entries; "
                            "leave generated files and data out of the code folder"
                        )
                    _check_member(member)
                    files += member.isreg()
                    if member.issym():
                        links[posixpath.normpath(member.name)] = member.linkname
        except _TooLarge:
            raise _too_large("archive unpacks to", None, max_bytes, subject) from None
        except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
            raise ArchiveError(
                f"the upload is not a readable .tar or .tar.gz archive ({exc}); "
                "pack the folder with `tar -czf code.tar.gz -C folder .` or the kp CLI"
            ) from None
    if entries == 0:
        raise ArchiveError(f"the {subject} archive has no entries; pack a folder that holds it")
    _check_link_chains(links)
    return ArchiveInfo(sha256=digest.hexdigest(), size=size, files=files)


def _normalised(info: tarfile.TarInfo, mode: int) -> tarfile.TarInfo:
    # Only the content and the executable bit matter; anything else would change the hash.
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o755 if info.isdir() or mode & 0o111 else 0o644
    return info


def pack_folder(path: str, *, max_bytes: int, subject: str = "code") -> bytes:
    """Returns a deterministic .tar.gz of the folder at ``path``.

    Entries are relative, sorted by name, with zeroed times and owners and modes reduced to
    0644/0755, so the same content always gives the same bytes. Folders named in
    SKIPPED_NAMES (.git, __pycache__, .venv) are left out. Raises ArchiveError when ``path`` is
    not a folder, holds a symlink leading outside it or a special file, or when the files or the
    archive exceed ``max_bytes``.
    """
    root = os.path.realpath(path)
    if not os.path.isdir(root):
        raise ArchiveError(
            f"{subject} {path!r} is not a folder; point `code` at your source folder"
        )
    total = 0
    buffer = io.BytesIO()
    # mtime=0 and no file name in the gzip header keep the bytes reproducible.
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as archive,
    ):
        for arcname, full in _entries(root):
            info = os.lstat(full)
            if stat.S_ISLNK(info.st_mode):
                target = os.readlink(full)
                resolved = os.path.realpath(full)
                # Checked lexically too: inspect_archive, which sees no file system, does so.
                lexical = posixpath.join(posixpath.dirname(arcname), target.replace(os.sep, "/"))
                outside = os.path.commonpath([root, resolved]) != root or not _inside(lexical)
                if os.path.isabs(target) or outside:
                    raise ArchiveError(
                        f"{arcname!r} is a symlink to {target!r}, outside the code folder; "
                        "copy what it points to into the folder or pass it as an input"
                    )
                member = tarfile.TarInfo(arcname)
                member.type, member.linkname = tarfile.SYMTYPE, target.replace(os.sep, "/")
                archive.addfile(_normalised(member, 0o644))
            elif stat.S_ISDIR(info.st_mode):
                member = tarfile.TarInfo(arcname)
                member.type = tarfile.DIRTYPE
                archive.addfile(_normalised(member, 0o755))
            elif stat.S_ISREG(info.st_mode):
                total += info.st_size
                if total > max_bytes:
                    raise _too_large("folder's files total", _folder_size(root), max_bytes, subject)
                member = tarfile.TarInfo(arcname)
                member.size = info.st_size
                with open(full, "rb") as handle:
                    archive.addfile(_normalised(member, info.st_mode), handle)
            else:
                raise ArchiveError(
                    f"{arcname!r} is not a regular file, folder or symlink (a socket, FIFO "
                    "or device); remove it from the code folder"
                )
    data = buffer.getvalue()
    if len(data) > max_bytes:
        raise _too_large("archive is", len(data), max_bytes, subject)
    return data


def _entries(root: str) -> list[tuple[str, str]]:
    """Returns (archive name, full path) of everything pack_folder includes, sorted by name."""
    found = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d not in SKIPPED_NAMES]
        relative = os.path.relpath(folder, root).replace(os.sep, "/")
        for name in dirs + [n for n in names if n not in SKIPPED_NAMES]:
            found.append(
                (posixpath.normpath(posixpath.join(relative, name)), os.path.join(folder, name))
            )
    return sorted(found)


def _folder_size(root: str) -> int:
    """Returns the bytes of regular files that pack_folder would include, for the error message."""
    total = 0
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d not in SKIPPED_NAMES]
        for name in names:
            info = os.lstat(os.path.join(folder, name))
            if stat.S_ISREG(info.st_mode):
                total += info.st_size
    return total
