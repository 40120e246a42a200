"""Per-vertex appearance: valid colours, variety, one skin tone per person, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from ltsh_jax.synth import appearance
from ltsh_jax.synth import body_model as bm


@pytest.fixture(scope="module")
def model():
    return bm.load_body_model()


@pytest.fixture(scope="module")
def rest(model):
    return np.asarray(bm.rest_vertices(model, bm.DEFAULT_SHAPE))


def test_colours_valid_and_deterministic(model, rest):
    a = appearance.sample_appearance(np.random.default_rng(0), model, rest)
    assert a.shape == (model.num_vertices, 3) and a.dtype == np.float32
    assert a.min() >= 0.0 and a.max() <= 1.0
    np.testing.assert_array_equal(a, appearance.sample_appearance(np.random.default_rng(0), model, rest))


def test_people_look_different(model, rest):
    draws = [appearance.sample_appearance(np.random.default_rng(s), model, rest) for s in range(6)]
    for i in range(len(draws)):
        for j in range(i):
            assert np.abs(draws[i] - draws[j]).mean() > 0.02
    torso = model.vertex_part == bm.PART_NAMES.index("torso")
    assert len({tuple(np.round(d[torso].mean(0), 2)) for d in draws}) == len(draws)


def test_skin_parts_share_one_tone(model, rest):
    hand = model.vertex_part == bm.PART_NAMES.index("hand")
    head = model.vertex_part == bm.PART_NAMES.index("head")
    head_ids = np.flatnonzero(head)
    chin = head_ids[np.argmin(rest[head_ids, 1])]  # never hair
    for seed in range(10):
        colours = appearance.sample_appearance(np.random.default_rng(seed), model, rest)
        skin = colours[hand]
        np.testing.assert_array_equal(skin, np.broadcast_to(skin[0], skin.shape))
        np.testing.assert_array_equal(colours[chin], skin[0])


def test_bad_rest_vertices(model):
    with pytest.raises(ValueError, match="rest_vertices"):
        appearance.sample_appearance(np.random.default_rng(0), model, np.zeros((10, 3)))
