"""Uploaded code archives: what is accepted, what is refused and why; reproducible packing."""

import gzip
import hashlib
import io
import os
import tarfile

import pytest

from assets.archives import ArchiveError, ArchiveInfo, inspect_archive, pack_folder

LIMIT = 1 << 20


def tar_bytes(*members: tuple[tarfile.TarInfo, bytes | None], compress: bool = True) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz" if compress else "w") as archive:
        for info, data in members:
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def file(name: str, data: bytes = b"x = 1\n") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def entry(name: str, kind: bytes, linkname: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info, None


def inspect(data: bytes, limit: int = LIMIT) -> ArchiveInfo:
    return inspect_archive(io.BytesIO(data), max_bytes=limit)


# --------------------------------------------------------------------------- accepted


@pytest.mark.parametrize("compress", [True, False])
def test_good_archive(compress):
    data = tar_bytes(
        entry("src", tarfile.DIRTYPE),
        file("src/train.py"),
        file("src/util.py"),
        entry("src/current.py", tarfile.SYMTYPE, "train.py"),
        entry("src/pkg/up.py", tarfile.SYMTYPE, "../util.py"),
        entry("src/same.py", tarfile.LNKTYPE, "src/train.py"),
        compress=compress,
    )
    info = inspect(data)
    assert info == ArchiveInfo(sha256=hashlib.sha256(data).hexdigest(), size=len(data), files=2)


def test_dot_prefixed_names_are_fine():
    assert inspect(tar_bytes(entry("./", tarfile.DIRTYPE), file("./a.py"))).files == 1


# --------------------------------------------------------------------------- refused


@pytest.mark.parametrize("name", ["/etc/passwd", "C:/x.py", "a\\b.py"])
def test_absolute_paths_are_refused(name):
    with pytest.raises(ArchiveError, match="absolute path"):
        inspect(tar_bytes(file(name)))


@pytest.mark.parametrize("name", ["../evil.py", "src/../../evil.py", "a/.."])
def test_dot_dot_is_refused(name):
    with pytest.raises(ArchiveError, match=r"contains '\.\.'"):
        inspect(tar_bytes(file(name)))


@pytest.mark.parametrize(
    "target", ["/etc/passwd", "../outside", "pkg/../../outside", "../../../../etc"]
)
def test_symlinks_out_of_the_tree_are_refused(target):
    with pytest.raises(ArchiveError, match="outside the code folder"):
        inspect(tar_bytes(file("a.py"), entry("link", tarfile.SYMTYPE, target)))


def test_symlink_from_a_subfolder_that_climbs_out_is_refused():
    with pytest.raises(ArchiveError, match="outside"):
        inspect(tar_bytes(entry("src/pkg/link", tarfile.SYMTYPE, "../../../x")))


@pytest.mark.parametrize(
    "links",
    [
        [("a", "."), ("b", "a/..")],  # a is the folder, so a/.. is its parent
        [("d/x", ".."), ("y", "d/x/..")],  # d/x is the folder, d/x/.. its parent
        [("p", "q"), ("q", "p")],  # a loop
        [("a", "."), ("b", "a/a/a/..")],
    ],
)
def test_symlink_chains_that_lead_out_are_refused(links):
    members = [entry(name, tarfile.SYMTYPE, target) for name, target in links]
    with pytest.raises(ArchiveError, match="other symlinks"):
        inspect(tar_bytes(file("main.py"), entry("d", tarfile.DIRTYPE), *members))


def test_symlink_chains_that_stay_inside_are_fine():
    members = [
        entry("lib", tarfile.DIRTYPE),
        file("lib/util.py"),
        entry("current", tarfile.SYMTYPE, "lib"),
        entry("alias", tarfile.SYMTYPE, "current/util.py"),
        entry("lib/up", tarfile.SYMTYPE, ".."),
        entry("again", tarfile.SYMTYPE, "lib/up/lib/up/alias"),
    ]
    assert inspect(tar_bytes(*members)).files == 1


@pytest.mark.parametrize("target", ["/etc/passwd", "../x"])
def test_hard_links_out_of_the_tree_are_refused(target):
    with pytest.raises(ArchiveError, match="hard link"):
        inspect(tar_bytes(entry("link", tarfile.LNKTYPE, target)))


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        (tarfile.CHRTYPE, "device file"),
        (tarfile.BLKTYPE, "device file"),
        (tarfile.FIFOTYPE, "FIFO"),
    ],
)
def test_devices_and_fifos_are_refused(kind, words):
    with pytest.raises(ArchiveError, match=words):
        inspect(tar_bytes(file("a.py"), entry("dev/thing", kind)))


def test_oversize_upload_says_the_size_and_the_limit():
    data = tar_bytes(file("big.bin", os.urandom(300_000)), compress=False)
    with pytest.raises(ArchiveError) as caught:
        inspect(data, limit=100_000)
    message = str(caught.value)
    assert f"({len(data)} bytes)" in message
    assert "the limit is 0.1 MiB (100000 bytes)" in message
    assert "inputs" in message


def test_oversize_stream_without_seek_still_refused():
    class Stream:
        def __init__(self, data: bytes):
            self.buffer = io.BytesIO(data)

        def read(self, size: int = -1) -> bytes:
            return self.buffer.read(size)

    data = tar_bytes(file("big.bin", os.urandom(300_000)), compress=False)
    with pytest.raises(ArchiveError, match="more than 100000 bytes"):
        inspect_archive(Stream(data), max_bytes=100_000)


def test_decompression_bomb_is_stopped_at_the_limit():
    # 64 MiB of zeros compresses to about 64 KiB: small upload, huge content.
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb") as zipped:
        with tarfile.open(fileobj=zipped, mode="w") as archive:
            info = tarfile.TarInfo("zeros.bin")
            info.size = 64 << 20
            archive.addfile(info, io.BytesIO(bytes(64 << 20)))
    data = buffer.getvalue()
    assert len(data) < LIMIT
    with pytest.raises(ArchiveError, match="unpacks to more than"):
        inspect(data)


def test_gzip_of_zeros_without_tar_headers_is_stopped():
    data = gzip.compress(b"a" * 512 + bytes(32 << 20))
    with pytest.raises(ArchiveError):
        inspect(data)


@pytest.mark.parametrize(
    "data",
    [b"not an archive at all", gzip.compress(b"plain text, not tar", mtime=0), b"\x1f\x8b broken"],
    # Named, not shown: parallel workers must collect the same ids.
    ids=["text", "gzip-of-text", "broken-gzip"],
)
def test_not_an_archive(data):
    with pytest.raises(ArchiveError, match="not a readable .tar or .tar.gz"):
        inspect(data)


def test_empty_upload_and_empty_archive():
    with pytest.raises(ArchiveError, match="empty"):
        inspect(b"")
    with pytest.raises(ArchiveError, match="no entries"):
        inspect(tar_bytes())


def test_too_many_entries():
    data = tar_bytes(*(file(f"f{i}.py") for i in range(5)))
    with pytest.raises(ArchiveError, match="more than 3 entries"):
        inspect_archive(io.BytesIO(data), max_bytes=LIMIT, max_files=3)


# --------------------------------------------------------------------------- packing


def make_folder(root) -> None:
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "src" / "train.py").write_text("print('train')\n")
    (root / "src" / "pkg" / "__init__.py").write_text("")
    (root / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(root / "run.sh", 0o700)
    (root / "empty").mkdir()
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref\n")
    (root / "src" / "__pycache__").mkdir()
    (root / "src" / "__pycache__" / "train.cpython-311.pyc").write_bytes(b"\0")
    (root / ".venv" / "bin").mkdir(parents=True)
    (root / ".venv" / "bin" / "python").write_text("")
    os.symlink("train.py", root / "src" / "main.py")


def test_pack_folder_is_deterministic_and_passes_inspection(tmp_path):
    make_folder(tmp_path / "a")
    first = pack_folder(str(tmp_path / "a"), max_bytes=LIMIT)
    os.utime(tmp_path / "a" / "src" / "train.py", (1, 1))  # times must not matter
    assert pack_folder(str(tmp_path / "a"), max_bytes=LIMIT) == first
    make_folder(tmp_path / "b")  # a copy made later, elsewhere: same bytes
    assert pack_folder(str(tmp_path / "b"), max_bytes=LIMIT) == first
    info = inspect(first)
    assert info.files == 3  # run.sh, train.py, __init__.py (the symlink is not a file)
    assert info.sha256 == hashlib.sha256(first).hexdigest()


def test_pack_folder_contents(tmp_path):
    make_folder(tmp_path)
    with tarfile.open(fileobj=io.BytesIO(pack_folder(str(tmp_path), max_bytes=LIMIT))) as archive:
        members = {m.name: m for m in archive.getmembers()}
        assert list(members) == [
            "empty", "run.sh", "src", "src/main.py", "src/pkg", "src/pkg/__init__.py",
            "src/train.py",
        ]  # fmt: skip
        assert archive.extractfile("src/train.py").read() == b"print('train')\n"
    assert members["src/main.py"].issym() and members["src/main.py"].linkname == "train.py"
    assert members["run.sh"].mode == 0o755
    assert members["src/train.py"].mode == 0o644
    assert all(m.mtime == 0 and m.uid == 0 and m.uname == "" for m in members.values())


def test_pack_folder_refuses_links_out_of_the_folder(tmp_path):
    (tmp_path / "code").mkdir()
    (tmp_path / "secret.txt").write_text("x")
    os.symlink("../secret.txt", tmp_path / "code" / "leak.txt")
    with pytest.raises(ArchiveError, match="outside the code folder"):
        pack_folder(str(tmp_path / "code"), max_bytes=LIMIT)


def test_pack_folder_refuses_special_files(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(ArchiveError, match="not a regular file"):
        pack_folder(str(tmp_path), max_bytes=LIMIT)


def test_pack_folder_limit_and_missing_folder(tmp_path):
    (tmp_path / "data.bin").write_bytes(os.urandom(50_000))
    with pytest.raises(ArchiveError, match=r"folder's files total .*\(50000 bytes\)"):
        pack_folder(str(tmp_path), max_bytes=10_000)
    with pytest.raises(ArchiveError, match="not a folder"):
        pack_folder(str(tmp_path / "missing"), max_bytes=LIMIT)


def test_pack_folder_refuses_links_that_only_resolve_inside_by_leaving_it(tmp_path):
    # "../code/x" lands back inside, but the archive cannot show that without the folder name.
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "x").write_text("x")
    os.symlink("../code/x", tmp_path / "code" / "y")
    with pytest.raises(ArchiveError, match="outside the code folder"):
        pack_folder(str(tmp_path / "code"), max_bytes=LIMIT)
