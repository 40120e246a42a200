"""Backgrounds: procedural ones are deterministic and varied; photo folders reject small and bad images."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ltsh_jax.synth import backgrounds


def test_procedural_backgrounds_are_deterministic_sized_and_varied():
    a = backgrounds.procedural_background(np.random.default_rng(5), 96, 64)
    b = backgrounds.procedural_background(np.random.default_rng(5), 96, 64)
    assert a.shape == (64, 96, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    others = [backgrounds.procedural_background(np.random.default_rng(s), 96, 64) for s in range(6)]
    means = np.array([o.reshape(-1, 3).mean(0) for o in others])
    assert np.ptp(means, axis=0).max() > 30  # different colours from seed to seed
    assert all(o.std() > 3 for o in others)  # not flat


def _write(path, size, colour=(10, 200, 30)):
    Image.new("RGB", size, colour).save(path)


def test_folder_backgrounds_fit_and_reject_small_images(tmp_path):
    _write(tmp_path / "big.png", (600, 520), (10, 200, 30))
    _write(tmp_path / "small.jpg", (300, 700), (250, 0, 0))
    source = backgrounds.folder_backgrounds(tmp_path)
    rng = np.random.default_rng(0)
    for _ in range(6):
        out = source(rng, 640, 640)
        assert out.shape == (640, 640, 3)
        np.testing.assert_array_equal(out[320, 320], (10, 200, 30))  # never the small red one
    assert source.rejected_small > 0


def test_reject_hook_and_all_rejected(tmp_path):
    _write(tmp_path / "a.png", (512, 512))
    source = backgrounds.folder_backgrounds(tmp_path, reject=lambda image: True, max_tries=5)
    with pytest.raises(ValueError, match="5 background images in a row rejected.*by the hook: 5"):
        source(np.random.default_rng(0), 64, 64)


def test_unreadable_image_is_named(tmp_path):
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    source = backgrounds.folder_backgrounds(tmp_path)
    with pytest.raises(ValueError, match="broken.jpg: cannot read background image"):
        source(np.random.default_rng(0), 64, 64)


def test_missing_or_empty_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        backgrounds.folder_backgrounds(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="holds no image"):
        backgrounds.folder_backgrounds(tmp_path)


def test_sun397_not_prepared_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="sun397"):
        backgrounds.sun397_backgrounds(tmp_path)
