"""Paths that are a local folder or a cloud URI (`gs://bucket/run`), through etils.epath.

`pathlib.Path("gs://bucket/run")` collapses the `//` and names a local folder `gs:`; `epath.Path` keeps the
URI and reaches it through its backend (gcsfs via fsspec here, since the project does not install
TensorFlow). Everything the library writes into a workdir, and the files it reads from a data folder, goes
through `as_path`. Cloud storage has objects, not files: no append, no truncate, no rename of a folder, no
symlinks. So `write_atomically` writes a local file through a temporary and `os.replace`, and a remote one
as one whole object (atomic on GCS: a reader sees the old object or the new, never half of one), and
`append_text` rewrites a remote object whole. Code that needs a real local folder says so with
`require_local`.
"""

from __future__ import annotations

import os
import pathlib
import re
import tempfile

from etils import epath

# "scheme://" at the start: gs://, s3://, ... (a Windows drive "C:\" has no "//").
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


class UnsupportedPathError(ValueError):
    """A path of a kind (a cloud URI) that this use of it cannot take; the message says what to do instead."""


def as_path(path: str | os.PathLike) -> epath.Path:
    """`path` as an epath.Path: a `gs://` URI stays one, a local path has `~` expanded."""
    path = epath.Path(path)
    return path if not is_local(path) else path.expanduser()


def is_local(path: str | os.PathLike) -> bool:
    """True for a path on this machine's file system, False for a URI such as `gs://bucket/x` (as epath sees
    it: epath also reads a local `/gs/x`, `/s3/x` as such a URI)."""
    return not _URI.match(os.fspath(epath.Path(path)))


def require_local(path: str | os.PathLike, what: str, why: str) -> pathlib.Path:
    """`path` as a pathlib.Path when it is local; UnsupportedPathError naming `what` it is and `why` that
    use needs a local one (for the few readers and writers that cannot go through epath)."""
    if not is_local(path):
        raise UnsupportedPathError(
            f"{what} {os.fspath(path)} must be a local path: {why}; copy it to a local disk or mount the bucket "
            "(e.g. gcsfuse) and pass the mount point"
        )
    return pathlib.Path(path).expanduser()


def write_atomically(path: str | os.PathLike, data: str | bytes) -> epath.Path:
    """Replaces the file at `path` with `data` (text as UTF-8) so that a reader or a kill never sees half of it;
    parent folders are made. Local: a temporary file beside it, then os.replace. Remote: one whole-object
    write (objects are replaced atomically). Returns the path."""
    path = as_path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    path.parent.mkdir(parents=True, exist_ok=True)
    if not is_local(path):
        path.write_bytes(payload)
        return path
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=os.fspath(path.parent))
    try:
        with os.fdopen(descriptor, "wb") as f:
            f.write(payload)
        os.replace(temporary, os.fspath(path))
    except BaseException:
        pathlib.Path(temporary).unlink(missing_ok=True)
        raise
    return path


def append_text(path: str | os.PathLike, text: str) -> None:
    """Appends `text` to the file at `path` (made if missing; its folder must exist). Local: one append-mode
    write, so a kill leaves the text whole or torn at its end. Remote: objects cannot be appended to, so the
    object is read and written again whole (cost grows with the file; fine for logs of thousands of lines)."""
    path = as_path(path)
    if is_local(path):
        with open(os.fspath(path), "a") as f:
            f.write(text)
        return
    old = path.read_bytes() if path.exists() else b""
    path.write_bytes(old + text.encode("utf-8"))


def truncate(path: str | os.PathLike, size: int) -> None:
    """Cuts the file at `path` to its first `size` bytes: os.truncate locally, a whole-object rewrite remotely."""
    path = as_path(path)
    if is_local(path):
        os.truncate(os.fspath(path), size)
    else:
        path.write_bytes(path.read_bytes()[:size])
