"""Tests of ltsh_jax.data.pipeline: determinism, real fraction, groups and switching, prefetch limits,
process slices, resume from the saved state, JPEG draft decoding, and eval crops on the real MPII samples.

Sources are in memory: every record is one uniformly coloured PNG with one person in its middle, the
colour naming the record, so the centre pixel of a crop tells which sample it shows.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from ltsh_jax.data import augment, decoding
from ltsh_jax.data.augment import AugmentParams, affine_matrix
from ltsh_jax.data.pipeline import Pipeline
from ltsh_jax.data.schema import min_distances
from ltsh_jax.data.sources import MpiiJsonSource, PeopleRecord
from ltsh_jax.skeleton import CMU_MPI, from_mpii16
from tests.paths import REAL_MPII

REAL = REAL_MPII
SMALL = AugmentParams(crop_size=32, max_shift=0.0)


class ColourSource:
    """`count` records, record k an 80x60 PNG of colour (base + k) in channel `channel`, one person at the centre."""

    def __init__(self, count: int, channel: int, synthetic: bool):
        self.count, self.channel, self.synthetic = count, channel, synthetic

    def __len__(self) -> int:
        return self.count

    def annotations(self, index: int) -> PeopleRecord:
        keypoints = np.random.default_rng(index).uniform(30, 50, (1, 16, 2)).astype(np.float32)
        labelled = np.ones((1, 16), bool)
        return PeopleRecord(
            image=b"",
            keypoints=keypoints,
            labelled=labelled,
            centers=np.array([[40.0, 30.0]], np.float32),
            scales=np.array([0.4], np.float32),
            is_synthetic=np.array([self.synthetic]),
            min_distance=min_distances(keypoints, labelled),
            camera_pitch=float(index) if self.synthetic else float("nan"),
        )

    def __getitem__(self, index: int) -> PeopleRecord:
        pixels = np.zeros((60, 80, 3), np.uint8)
        pixels[..., self.channel] = 100 + index
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG")
        record = self.annotations(index)
        return PeopleRecord(**{**record.__dict__, "image": buffer.getvalue()})


def _pipeline(synthetic_count=6, **kwargs) -> Pipeline:
    args = dict(batch_size=8, seed=3, params=SMALL, skeleton=CMU_MPI, max_people=2, stride=8, num_workers=2)
    args.update(kwargs)
    synthetic = ColourSource(synthetic_count, 1, True) if synthetic_count else None
    return Pipeline(ColourSource(5, 0, False), synthetic, **args)


def _identities(batch) -> list[tuple[str, int]]:
    """('real' | 'synthetic', record) of each crop, from its centre pixel."""
    centre = batch["image"][:, 16, 16]
    return [("real", int(c[0]) - 100) if c[0] else ("synthetic", int(c[1]) - 100) for c in centre]


def _same(a: dict, b: dict) -> bool:
    fields = ("keypoints", "labelled", "valid", "is_synthetic")
    return all(a[k].tobytes() == b[k].tobytes() for k in ("image", "ignore_mask", "is_synthetic")) and all(
        getattr(a["people"], f).tobytes() == getattr(b["people"], f).tobytes() for f in fields
    )


def test_batches_are_a_function_of_seed_step_and_group():
    a, b = _pipeline(), _pipeline(prefetch=0, num_workers=1)
    try:
        first = [a.batch(s) for s in range(4)]
        assert all(_same(x, b.batch(s)) for s, x in enumerate(first))
        assert not _same(first[1], first[2])
        assert not _same(first[1], _pipeline(seed=4, prefetch=0).batch(1))
        batch = first[0]
        assert batch["image"].shape == (8, 32, 32, 3) and batch["image"].dtype == np.uint8
        assert batch["ignore_mask"].shape == (8, 4, 4) and batch["people"].keypoints.shape == (8, 2, 15, 2)
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("fraction,real", [(0.5, 4), (0.25, 2), (1.0, 8)])
def test_real_fraction_is_exact(fraction, real):
    pipeline = _pipeline(real_fraction=fraction, prefetch=0)
    for step in range(3):
        batch = pipeline.batch(step)
        assert (~batch["is_synthetic"]).sum() == real
        kinds = [kind for kind, _ in _identities(batch)]
        assert [k == "synthetic" for k in kinds] == batch["is_synthetic"].tolist()
        assert (batch["people"].is_synthetic[:, 0] == batch["is_synthetic"]).all()  # per person, from the record


def test_without_a_synthetic_source_every_crop_is_real():
    batch = _pipeline(synthetic_count=0, prefetch=0).batch(0)
    assert not batch["is_synthetic"].any() and {k for k, _ in _identities(batch)} == {"real"}


def test_group_restricts_synthetic_samples_from_exactly_its_step():
    groups = [np.array([0, 1]), np.array([4]), np.array([2, 3, 5])]
    pipeline = _pipeline(groups=groups)
    reference = _pipeline(groups=groups, prefetch=0)
    try:
        for step in range(3):  # no group chosen yet: any synthetic sample; prefetches steps ahead
            pipeline.batch(step)
        assert pipeline._pending  # batches 3, 4 were prefetched with the old group...
        pipeline.set_group(2, from_step=3)  # ...and are dropped now
        reference.set_group(2, from_step=3)
        for step in range(3, 8):
            if step == 6:
                pipeline.set_group(1, from_step=6)
                reference.set_group(1, from_step=6)
            batch = pipeline.batch(step)
            want = {0: set(), 1: {4}, 2: {2, 3, 5}}[2 if step < 6 else 1]
            assert {r for k, r in _identities(batch) if k == "synthetic"} <= want
            assert _same(batch, reference.batch(step))
        with pytest.raises(ValueError, match="group 7"):
            pipeline.set_group(7, from_step=9)
    finally:
        pipeline.close()


def test_prefetch_never_passes_an_undecided_step():
    pipeline = _pipeline(groups=[np.arange(3), np.arange(3, 6)], prefetch=4)
    try:
        pipeline.set_group(0, from_step=0, until_step=2)  # the teacher decides 2 steps at a time
        pipeline.batch(0)
        assert set(pipeline._pending) == {1}
        pipeline.batch(1)
        assert not pipeline._pending
        pipeline.set_group(1, from_step=2, until_step=4)
        pipeline.batch(2)
        assert set(pipeline._pending) == {3}
    finally:
        pipeline.close()


def test_process_rows_concatenate_to_the_global_batch():
    whole = _pipeline(prefetch=0).batch(5)
    parts = [_pipeline(rows=rows, prefetch=0).batch(5) for rows in (range(4), range(4, 8))]
    for key in ("image", "ignore_mask", "is_synthetic"):
        np.testing.assert_array_equal(np.concatenate([p[key] for p in parts]), whole[key])
    for field in ("keypoints", "labelled", "valid", "is_synthetic"):
        joined = np.concatenate([getattr(p["people"], field) for p in parts])
        np.testing.assert_array_equal(joined, getattr(whole["people"], field))
    assert parts[0]["image"].shape[0] == 4 and parts[0]["is_synthetic"].sum() == 2


def test_resume_from_saved_state_reproduces_the_batches():
    groups = [np.array([0, 1]), np.array([2, 3])]
    first = _pipeline(groups=groups)
    try:
        first.set_group(1, from_step=0)
        for step in range(4):
            first.batch(step)
        first.set_group(0, from_step=4, until_step=6)
        saved = json.loads(json.dumps(first.state()))  # as it travels through the checkpoint meta
        expected = [first.batch(s) for s in (4, 5, 6)]
    finally:
        first.close()
    resumed = _pipeline(groups=groups)
    resumed.restore(saved)
    assert resumed.decided_until == 6
    assert all(_same(resumed.batch(s), e) for s, e in zip((4, 5, 6), expected, strict=True))
    resumed.close()
    with pytest.raises(ValueError, match="set the same groups"):
        _pipeline(groups=[np.array([0])]).restore(saved)


def test_jpeg_draft_decoding_matches_a_full_resolution_crop():
    x, y = np.meshgrid(np.linspace(0, 6, 640), np.linspace(0, 4, 480))
    pixels = (127 + 120 * np.stack([np.sin(x), np.cos(y), np.sin(x + y)], -1)).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=95)
    matrix = affine_matrix((300, 250), 0.2, 30.0, (3, -2), True, 64)
    decoded, reduced = decoding.decode_image_for_crop(buffer.getvalue(), matrix)
    assert decoded.shape == (120, 160, 3)  # decoded at 1/4
    small = augment.warp_image(decoded, reduced, 64).astype(float)
    full = augment.warp_image(pixels, matrix, 64).astype(float)
    assert np.abs(small - full)[8:-8, 8:-8].mean() < 3.0


def test_real_samples_eval_crops_map_back_to_the_annotations():
    """augment=False: slot 0's labelled joints inside the crop, mapped back by hand, equal the annotation."""
    source = MpiiJsonSource.from_folder(REAL, "test_mpii.json")
    size = 368
    pipeline = Pipeline(source, None, batch_size=5, seed=0, params=AugmentParams(crop_size=size),
                        skeleton=CMU_MPI, max_people=2, augment=False, prefetch=0)  # fmt: skip
    batch = pipeline.batch(0)
    annotated = [from_mpii16(CMU_MPI, r.keypoints[0], r.labelled[0]) for r in source.records]
    matched = set()
    for b in range(5):
        kp, lab = batch["people"].keypoints[b, 0], batch["people"].labelled[b, 0]
        inside = lab & (kp >= 0).all(-1) & (kp <= size - 1).all(-1)
        assert inside.sum() >= 10
        for i, record in enumerate(source.records):
            back = (kp - (size - 1) / 2) * (record.scales[0] / 1.25) + record.centers[0]
            want_kp, want_lab = annotated[i]
            if np.array_equal(lab, want_lab) and np.allclose(back[inside], want_kp[inside], atol=1e-3):
                matched.add(i)
        assert not batch["people"].valid[b, 1]  # one annotated person per image
    assert matched == set(range(5))  # one epoch of 5: every real sample, each mapped back exactly
    assert batch["image"].shape == (5, size, size, 3) and batch["image"].std() > 20
    assert not batch["ignore_mask"].any() and not batch["is_synthetic"].any()
