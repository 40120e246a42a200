"""Killed builds' incomplete folders are removed (or reported) by the next build; a failed build says what it left."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import textwrap

import pytest
import tensorflow_datasets as tfds

from data_builders import leftovers
from data_builders.build import build
from data_builders.mpii_multiperson.conftest import DUMMY

REPO = pathlib.Path(__file__).resolve().parents[1]
tfds.disable_progress_bar()

# Builds the dummy MPII folder and kills itself (SIGKILL) while writing the third example.
_KILLED_BUILD = textwrap.dedent("""
    import os, signal, sys
    from data_builders.build import build
    from data_builders.mpii_multiperson import mpii_multiperson_dataset_builder as mpii
    example, count = mpii._example, [0]
    def dying(*args):
        count[0] += 1
        if count[0] == 3:
            os.kill(os.getpid(), signal.SIGKILL)
        return example(*args)
    mpii._example = dying
    build("mpii_multiperson", data_dir=sys.argv[1], manual_dir=sys.argv[2])
""")


def _incomplete(data_dir: pathlib.Path) -> list[pathlib.Path]:
    return sorted((data_dir / "mpii_multiperson/default").glob("incomplete.*"))


def test_a_killed_build_is_cleaned_up_by_the_next(tmp_path, caplog):
    data_dir = tmp_path / "data"
    killed = subprocess.run([sys.executable, "-c", _KILLED_BUILD, str(data_dir), str(DUMMY / "mat")], cwd=REPO)
    assert killed.returncode == -signal.SIGKILL
    [stale] = _incomplete(data_dir)
    assert (stale / leftovers.OWNER_FILE).is_file()  # marked with the dead process
    builder = build("mpii_multiperson", data_dir=data_dir, manual_dir=DUMMY / "mat")
    assert _incomplete(data_dir) == [] and builder.info.splits.total_num_examples == 6
    assert f"removed {stale} (" in caplog.text and "left by a killed build" in caplog.text
    assert not (pathlib.Path(builder.data_dir) / leftovers.OWNER_FILE).exists()  # never part of the dataset


@pytest.mark.parametrize("owner", ["none", "alive", "other_host"])
def test_incomplete_folders_that_may_be_in_use_are_reported_with_their_size(tmp_path, owner):
    folder = tmp_path / "mpii_multiperson/default/incomplete.ABC123_1.0.0"
    folder.mkdir(parents=True)
    (folder / "train.array_record-00000-of-00001").write_bytes(b"x" * 2500)
    if owner == "alive":
        leftovers.write_owner(folder)  # this test's own process
    elif owner == "other_host":
        (folder / leftovers.OWNER_FILE).write_text('{"host": "elsewhere", "pid": 1}')
    [line] = leftovers.clear_stale_incomplete(tmp_path / "mpii_multiperson/default/1.0.0")
    why = {
        "none": "not marked by a build of this project: it may still be written",
        "alive": f"its build (pid {os.getpid()}) is still running",
        "other_host": "written by pid 1 on host elsewhere",
    }[owner]
    assert line == f"left {folder} (2.5 kB): {why}; remove it by hand once no build writes it"
    assert folder.is_dir()


def test_a_failed_build_removes_its_empty_folders_and_says_what_is_left(tmp_path):
    data_dir, manual = tmp_path / "data", tmp_path / "manual"
    (manual / "images").mkdir(parents=True)  # not empty, but no annotation file
    (data_dir / "downloads/keep").mkdir(parents=True)  # the user's: never touched
    with pytest.raises(FileNotFoundError, match="no annotation file") as error:
        build("mpii_multiperson", data_dir=data_dir, manual_dir=manual)
    [note] = error.value.__notes__
    assert note.startswith("the failed build left ") and "mpii_multiperson (" in note and "downloads" not in note
    assert (data_dir / "downloads/keep").is_dir() and not (data_dir / "downloads/extracted").exists()
    assert not (data_dir / "mpii_multiperson/default").exists()
    fresh = tmp_path / "fresh"
    with pytest.raises(FileNotFoundError) as error:
        build("mpii_multiperson", data_dir=fresh, manual_dir=manual)
    assert not (fresh / "downloads").exists() and "downloads" not in error.value.__notes__[0]
