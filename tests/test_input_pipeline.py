"""Tests of ltsh_jax.input_pipeline: samples per person, the image cache, batches as a pure function
of (seed, step), process slices, epoch coverage, and the evaluation crop on the real MPII samples."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest
from PIL import Image

from ltsh_jax import input_pipeline
from ltsh_jax.augment import AugmentParams
from ltsh_jax.input_pipeline import PersonSamples, batch_for_step, sample_indices
from ltsh_jax.mpii_json import ImageRecord, load_mpii_json
from ltsh_jax.skeleton import CMU_MPI, from_mpii16

REAL = pathlib.Path(__file__).resolve().parents[2] / "shared/data/real_samples/mpii"
SMALL = AugmentParams(crop_size=32)
COMMON = dict(params=SMALL, skeleton=CMU_MPI, max_people=3, stride=8)


def _record(path: pathlib.Path, num_people: int, rng: np.random.Generator, unlabelled=()) -> ImageRecord:
    Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(path)
    keypoints = rng.uniform(5, 45, (num_people, 16, 2)).astype(np.float32)
    labelled = np.ones((num_people, 16), bool)
    labelled[list(unlabelled)] = False
    return ImageRecord(path, keypoints, labelled, keypoints.mean(axis=1), np.full(num_people, 0.5, np.float32))


@pytest.fixture
def samples(tmp_path) -> PersonSamples:
    """Two images: 5 annotated people, and 3 people of whom one has no labelled joint: 7 samples."""
    rng = np.random.default_rng(0)
    return PersonSamples([_record(tmp_path / "a.png", 5, rng), _record(tmp_path / "b.png", 3, rng, unlabelled=[1])])


def test_every_annotated_person_is_a_sample(samples):
    assert len(samples) == 7
    assert samples.samples == [(0, 0), (0, 1), (0, 2), (0, 3), (0, 4), (1, 0), (1, 2)]


def test_no_annotated_people_is_an_error(tmp_path):
    record = _record(tmp_path / "a.png", 2, np.random.default_rng(0), unlabelled=[0, 1])
    with pytest.raises(ValueError, match="no annotated people"):
        PersonSamples([record])


def test_image_cache_is_lru_and_bounded(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    records = [_record(tmp_path / f"{i}.png", 1, rng) for i in range(3)]
    decoded = []
    real_decode = input_pipeline.decode_image
    monkeypatch.setattr(input_pipeline, "decode_image", lambda path: decoded.append(path.name) or real_decode(path))
    samples = PersonSamples(records, cache_size=2)
    first = samples.image(0)
    np.testing.assert_array_equal(first, np.asarray(Image.open(tmp_path / "0.png")))
    samples.image(1)
    samples.image(0)  # hit: 0 becomes the most recent, so 1 is evicted next
    samples.image(2)
    samples.image(0)  # still cached
    samples.image(1)  # evicted: decoded again
    assert decoded == ["0.png", "1.png", "2.png", "1.png"]
    assert len(samples._cache) == 2


def test_batches_are_a_function_of_seed_and_step(samples):
    a = batch_for_step(samples, 3, batch_size=4, seed=11, **COMMON)
    b = batch_for_step(samples, 3, batch_size=4, seed=11, **COMMON)
    c = batch_for_step(samples, 4, batch_size=4, seed=11, **COMMON)
    d = batch_for_step(samples, 3, batch_size=4, seed=12, **COMMON)
    assert set(a) == {"image", "people", "ignore_mask", "is_synthetic"}
    assert a["image"].shape == (4, 32, 32, 3) and a["image"].dtype == np.uint8
    assert a["ignore_mask"].shape == (4, 4, 4) and a["ignore_mask"].dtype == np.uint8
    assert a["people"].keypoints.shape == (4, 3, CMU_MPI.num_parts, 2) and a["people"].valid.shape == (4, 3)
    assert a["is_synthetic"].dtype == bool and not a["is_synthetic"].any()
    assert not a["people"].is_synthetic.any()
    assert a["image"].tobytes() == b["image"].tobytes()
    assert a["ignore_mask"].tobytes() == b["ignore_mask"].tobytes()
    for field in ("keypoints", "labelled", "valid"):
        assert getattr(a["people"], field).tobytes() == getattr(b["people"], field).tobytes()
    for other in (c, d):
        assert other["image"].tobytes() != a["image"].tobytes()
        assert other["people"].keypoints.tobytes() != a["people"].keypoints.tobytes()


def test_process_slices_concatenate_to_the_global_batch(samples):
    whole = batch_for_step(samples, 5, batch_size=4, seed=3, **COMMON)
    parts = [
        batch_for_step(samples, 5, batch_size=4, seed=3, process_index=i, process_count=2, **COMMON) for i in (0, 1)
    ]
    for key in ("image", "ignore_mask", "is_synthetic"):
        np.testing.assert_array_equal(np.concatenate([p[key] for p in parts]), whole[key])
    for field in ("keypoints", "labelled", "valid", "is_synthetic"):
        joined = np.concatenate([getattr(p["people"], field) for p in parts])
        np.testing.assert_array_equal(joined, getattr(whole["people"], field))
    assert parts[0]["image"].shape[0] == 2
    with pytest.raises(ValueError, match="multiple of process_count"):
        batch_for_step(samples, 0, batch_size=3, seed=0, process_count=2, **COMMON)
    with pytest.raises(ValueError, match="process_index 2"):
        batch_for_step(samples, 0, batch_size=4, seed=0, process_index=2, process_count=2, **COMMON)


def test_each_epoch_visits_every_sample_once(samples):
    """Evaluation crops identify their sample; 7 steps of 3 = 3 epochs of 7, batches straddling epochs."""
    expected = {}
    for index, (image, person) in enumerate(samples.samples):
        record = samples.records[image]
        parts, _ = from_mpii16(CMU_MPI, record.keypoints[person], record.labelled[person])
        scale = 1.25 / record.scales[person]
        expected[index] = (parts - record.centers[person]) * scale + 15.5  # crop 32: centre (32 - 1) / 2
    seen = []
    for step in range(7):
        batch = batch_for_step(samples, step, batch_size=3, seed=5, augment=False, **COMMON)
        for slot0 in batch["people"].keypoints[:, 0]:
            matches = [i for i, want in expected.items() if np.allclose(slot0, want, atol=1e-3)]
            assert len(matches) == 1
            seen.append(matches[0])
    epochs = [seen[7 * e : 7 * e + 7] for e in range(3)]
    for order in epochs:
        assert sorted(order) == list(range(7))
    assert len({tuple(order) for order in epochs}) > 1  # reshuffled every epoch
    np.testing.assert_array_equal(sample_indices(7, np.arange(21), 5), seen)


def test_real_samples_eval_crops_map_back_to_the_annotations():
    """augment=False: slot 0's labelled joints inside the crop, mapped back by hand, equal the annotation."""
    records = load_mpii_json(REAL, "test_mpii.json")
    samples = PersonSamples(records)
    assert len(samples) == 5
    size = 368
    params = AugmentParams(crop_size=size)
    batch = batch_for_step(
        samples, 0, batch_size=5, seed=0, params=params, skeleton=CMU_MPI, max_people=2, augment=False
    )
    annotated = [from_mpii16(CMU_MPI, r.keypoints[0], r.labelled[0]) for r in records]
    matched = set()
    for b in range(5):
        kp, lab = batch["people"].keypoints[b, 0], batch["people"].labelled[b, 0]
        inside = lab & (kp >= 0).all(-1) & (kp <= size - 1).all(-1)
        assert inside.sum() >= 10
        for i, record in enumerate(records):
            back = (kp - (size - 1) / 2) * (record.scales[0] / 1.25) + record.centers[0]
            want_kp, want_lab = annotated[i]
            if np.array_equal(lab, want_lab) and np.allclose(back[inside], want_kp[inside], atol=1e-3):
                matched.add(i)
        assert not batch["people"].valid[b, 1]  # one annotated person per image
    assert matched == set(range(5))  # one epoch of 5: every real sample, each mapped back exactly
    assert batch["image"].shape == (5, size, size, 3) and batch["image"].std() > 20
    assert not batch["ignore_mask"].any()


def test_real_samples_augmented_batch():
    samples = PersonSamples(load_mpii_json(REAL, "test_mpii.json"))
    params = AugmentParams(crop_size=128)
    batch = batch_for_step(samples, 2, batch_size=4, seed=1, params=params, skeleton=CMU_MPI, max_people=2)
    people = batch["people"]
    assert people.valid[:, 0].all() and people.labelled[:, 0].sum(axis=1).min() >= 12
    # The crop is centred on the person: their chest lies inside the crop.
    chest = people.keypoints[:, 0, CMU_MPI.part_names.index("chest")]
    assert ((chest > 0) & (chest < 128)).all()
    assert all(batch["image"][b].std() > 10 for b in range(4))
