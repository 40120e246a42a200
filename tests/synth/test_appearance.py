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


@pytest.fixture(scope="module")
def outfits(model, rest):
    return [appearance.sample_outfit(np.random.default_rng(s), model, rest) for s in range(160)]


def test_sleeve_and_leg_lengths_decide_which_limb_vertices_wear_the_garment(model, rest, outfits):
    arm, leg = appearance.arm_fraction(model, rest), appearance.leg_fraction(model, rest)
    on_arm, on_leg = np.isfinite(arm), np.isfinite(leg)
    sleeves = sorted({round(o.sleeve, 2) for o in outfits})
    assert sleeves[0] == 0.0 and sleeves[-1] > 0.9 and len(sleeves) > 30  # sleeveless to long, continuous
    for o in outfits[:40]:
        skin = np.all(o.colors == o.skin, axis=1)
        bare_arm, dressed_arm = on_arm & (arm > o.sleeve), on_arm & (arm <= o.sleeve)
        assert skin[bare_arm].all() and (~skin[dressed_arm]).mean() > 0.95
        if o.shoes != "boots":  # boots cover the shin whatever the bottom
            assert skin[on_leg & (leg > o.leg)].all()
        assert (~skin[on_leg & (leg <= o.leg)]).mean() > 0.95
    short = next(o for o in outfits if 0 < o.sleeve < 0.5)
    long = next(o for o in outfits if o.sleeve > 0.9)
    covered = [(on_arm & (arm <= o.sleeve)).sum() for o in (short, long)]
    assert covered[0] < covered[1]


def test_every_material_shoe_and_hair_kind_is_reachable(outfits):
    assert {o.top for o in outfits} | {o.bottom for o in outfits} == set(appearance.MATERIALS)
    assert {o.shoes for o in outfits} == set(appearance.SHOES)
    assert {o.hair for o in outfits} == {"bald", "short", "long"}


def test_rich_skin_tones_span_a_wider_luminance_range_than_the_basic_palette(outfits):
    luma = np.array([o.skin @ (0.2126, 0.7152, 0.0722) for o in outfits])
    basic = appearance.SKIN_TONES @ np.array([0.2126, 0.7152, 0.0722])
    assert luma.min() < basic.min() - 0.03 and luma.max() > basic.max() + 0.03
    assert luma.min() < 0.2 and luma.max() > 0.85  # very dark to very light


def test_rich_outfits_are_deterministic_and_clothing_is_checked(model, rest):
    a = appearance.sample_appearance(np.random.default_rng(7), model, rest, "rich")
    np.testing.assert_array_equal(a, appearance.sample_outfit(np.random.default_rng(7), model, rest).colors)
    assert a.dtype == np.float32 and 0 <= a.min() and a.max() <= 1
    with pytest.raises(ValueError, match="clothing"):
        appearance.sample_appearance(np.random.default_rng(7), model, rest, "fancy")
