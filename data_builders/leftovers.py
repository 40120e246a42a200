"""What builds leave behind: stale `incomplete.*` folders of killed builds, and the files of a failed one.

TFDS writes a dataset into `DATA/NAME/CONFIG/incomplete.XXXXXX_VERSION/` and renames it when done; a build
that raises removes it, a killed one (kill -9, a lost machine) leaves it, up to the dataset's full size.
Our builders mark that folder with the building process (OWNER_FILE: host and pid) while they write; the next
build of the same NAME/CONFIG removes a marked folder whose process is gone, and reports (path and size,
not removed) one it cannot judge: no marker, another host, or a process still alive. A build that fails
removes the empty folders it created (e.g. `downloads/`) and says what else it left.
Only local data_dirs are checked (a gs:// data_dir is left alone).
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import socket

from absl import logging

OWNER_FILE = ".ltsh_build_owner.json"
INCOMPLETE_PREFIX = "incomplete."


def write_owner(folder: str | os.PathLike) -> None:
    """Marks a build's incomplete folder with this host and process (removed by remove_owner when done)."""
    if _is_local(folder):
        (pathlib.Path(folder) / OWNER_FILE).write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid()}))


def remove_owner(folder: str | os.PathLike) -> None:
    """Removes the marker before TFDS renames the folder into the dataset."""
    if _is_local(folder):
        (pathlib.Path(folder) / OWNER_FILE).unlink(missing_ok=True)


def size_text(path: pathlib.Path) -> str:
    """The size of a file or folder (all files under it), e.g. '1.2 MB'."""
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file() and not p.is_symlink()]
    size = float(sum(p.stat().st_size for p in files))
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def _owner_gone(folder: pathlib.Path) -> tuple[bool, str]:
    """(True, "") when the folder's marked owner is a process of this host that no longer runs; else why not."""
    try:
        owner = json.loads((folder / OWNER_FILE).read_text())
        host, pid = owner["host"], int(owner["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return False, "not marked by a build of this project: it may still be written"
    if host != socket.gethostname():
        return False, f"written by pid {pid} on host {host}"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True, ""
    except PermissionError:
        pass
    return False, f"its build (pid {pid}) is still running"


def clear_stale_incomplete(data_path: str | os.PathLike) -> list[str]:
    """Removes the stale incomplete folders beside `data_path` (DATA/NAME/CONFIG/VERSION), reports the others.

    Returns one line per folder found, also logged: "removed ..." or "left ... (reason); remove it by hand".
    """
    if not _is_local(data_path):
        return []
    parent = pathlib.Path(data_path).parent
    lines = []
    for folder in sorted(parent.glob(f"{INCOMPLETE_PREFIX}*")) if parent.is_dir() else []:
        if not folder.is_dir():
            continue
        size = size_text(folder)
        gone, why = _owner_gone(folder)
        if gone:
            shutil.rmtree(folder)
            lines.append(f"removed {folder} ({size}), left by a killed build")
        else:
            lines.append(f"left {folder} ({size}): {why}; remove it by hand once no build writes it")
        logging.warning("stale build output: %s", lines[-1])
    return lines


def snapshot(data_dir: str | os.PathLike, name: str) -> set[pathlib.Path]:
    """The paths a build of dataset `name` may create: data_dir's entries, and 3 levels of downloads/ and name/."""
    root = pathlib.Path(data_dir)
    if not _is_local(data_dir) or not root.is_dir():
        return set()
    return {root, *root.iterdir(), *_walk(root / "downloads", 3), *_walk(root / name, 3)}


def _walk(folder: pathlib.Path, depth: int) -> set[pathlib.Path]:
    if depth == 0 or not folder.is_dir() or folder.is_symlink():
        return set()
    found = set(folder.iterdir())
    return found.union(*(_walk(p, depth - 1) for p in found))


def clean_after_failure(
    data_dir: str | os.PathLike, data_path: str | os.PathLike, before: set[pathlib.Path]
) -> list[str]:
    """After a failed build of the dataset at data_path (DATA/NAME/CONFIG/VERSION): removes the folders it created
    that hold nothing (downloads/ and its extracted/ and manual/, NAME/CONFIG/, NAME/) and returns what else it
    created, top-most paths with their sizes. Nothing that existed before is touched."""
    root = pathlib.Path(data_dir)
    if not _is_local(data_dir) or not root.is_dir():
        return []
    name = pathlib.Path(data_path).parent.parent.name
    created = snapshot(root, name) - before
    config_dir = pathlib.Path(data_path).parent
    empty = [root / "downloads/extracted", root / "downloads/manual", root / "downloads", config_dir, config_dir.parent]
    for folder in empty:
        if folder in created and folder.is_dir() and not folder.is_symlink() and not any(folder.iterdir()):
            folder.rmdir()
    left = {p for p in created if p.exists() or p.is_symlink()}
    return [f"{p} ({size_text(p)})" for p in sorted(left) if p.parent not in left]


def _is_local(path: str | os.PathLike) -> bool:
    return "://" not in os.fspath(path)
