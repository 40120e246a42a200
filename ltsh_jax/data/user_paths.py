"""Paths named by a user's annotation file, confined to the folder the user gave.

An annotation file is data, not a list of files to read: a name such as `../../etc/passwd`, `/home/x/key`,
`C:\\x` or a symlink inside the folder that leads out of it must never make a reader open (or a builder
copy into a dataset) a file outside that folder. Every reader joins such names through confined_path.
The folder may be a cloud URI (`gs://bucket/mpii`, ltsh_jax.paths): the same lexical rules hold there, and
the symlink rule has nothing to check (object stores have no symlinks).
"""

from __future__ import annotations

import os
import pathlib

from etils import epath

from ltsh_jax import paths


class UnsafePathError(ValueError):
    """A name from an annotation file points outside its folder; the message names the file and the name."""


def confined_path(root: str | os.PathLike, name: str, where: str = "") -> epath.Path:
    """`root / name`, or UnsafePathError when `name` could leave `root`.

    Refused: a name that is empty or not a string, absolute (POSIX or with a Windows drive), with a `..`
    component (backslashes count as separators), or, for a local `root`, whose resolved path (symlinks
    followed) is not inside the resolved `root`. `where` (the annotation file and record) starts the message.
    The path returned is the unresolved join (so file names in messages and datasets stay as the user wrote
    them).
    """
    prefix = f"{where}: " if where else ""
    if not isinstance(name, str) or not name.strip():
        raise UnsafePathError(f"{prefix}file name {name!r} must be a non-empty relative path")
    posix = pathlib.PurePosixPath(name.replace("\\", "/"))
    if posix.is_absolute() or pathlib.PureWindowsPath(name).drive:
        raise UnsafePathError(f"{prefix}file name {name!r} is absolute; it must be relative to the folder {root}")
    if ".." in posix.parts:
        raise UnsafePathError(f"{prefix}file name {name!r} contains '..'; it must stay inside the folder {root}")
    root = paths.as_path(root)
    path = root / posix.as_posix()
    if not paths.is_local(root):  # lexical confinement is all there is: no symlinks in an object store
        return path
    # pathlib's resolve follows symlinks (epath's only normalises the text).
    resolved, inside = pathlib.Path(path).resolve(), pathlib.Path(root).resolve()
    if not resolved.is_relative_to(inside):
        raise UnsafePathError(f"{prefix}file name {name!r} leads to {resolved}, outside the folder {root} (symlink)")
    return path
