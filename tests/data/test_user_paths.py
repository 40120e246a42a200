"""Tests of ltsh_jax.data.user_paths.confined_path: names from annotation files never leave their folder."""

from __future__ import annotations

import pytest

from ltsh_jax.data.user_paths import UnsafePathError, confined_path


@pytest.fixture
def folder(tmp_path):
    """tmp_path/data with images/a.jpg, a link inside to it, a link out to tmp_path/secret.jpg, a link to /."""
    (tmp_path / "secret.jpg").write_bytes(b"secret")
    root = tmp_path / "data"
    (root / "images").mkdir(parents=True)
    (root / "images/a.jpg").write_bytes(b"a")
    (root / "inside.jpg").symlink_to(root / "images/a.jpg")
    (root / "out.jpg").symlink_to(tmp_path / "secret.jpg")
    (root / "up").symlink_to(tmp_path)
    return root


@pytest.mark.parametrize("name", ["images/a.jpg", "./images/a.jpg", "images\\a.jpg", "inside.jpg", "new.jpg"])
def test_names_inside_are_joined_unresolved(folder, name):
    path = confined_path(folder, name, "ann.json record 0")
    assert path == folder / name.replace("\\", "/") and path.resolve().is_relative_to(folder)


@pytest.mark.parametrize(
    "name, message",
    [
        ("../secret.jpg", r"ann\.json record 3: file name '\.\./secret\.jpg' contains '\.\.'"),
        ("images/../../secret.jpg", r"contains '\.\.'"),
        ("images\\..\\..\\secret.jpg", r"contains '\.\.'"),
        ("/etc/passwd", r"file name '/etc/passwd' is absolute"),
        ("C:\\secret.jpg", r"is absolute"),
        ("out.jpg", r"file name 'out\.jpg' leads to .*secret\.jpg, outside the folder .*data \(symlink\)"),
        ("up/secret.jpg", r"leads to .*secret\.jpg, outside the folder"),
        ("", r"must be a non-empty relative path"),
    ],
)
def test_names_leaving_the_folder_are_refused(folder, name, message):
    with pytest.raises(UnsafePathError, match=message) as error:
        confined_path(folder, name, "ann.json record 3")
    assert str(error.value).startswith("ann.json record 3: ") and "\n" not in str(error.value)


def test_a_root_reached_through_a_symlink_is_its_own_inside(folder, tmp_path):
    (tmp_path / "alias").symlink_to(folder)
    assert confined_path(tmp_path / "alias", "images/a.jpg") == tmp_path / "alias/images/a.jpg"
