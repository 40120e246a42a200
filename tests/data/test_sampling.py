"""Tests of ltsh_jax.data.sampling: person samples, real/synthetic slot layout, step plans, the group schedule."""

from __future__ import annotations

import numpy as np
import pytest

from ltsh_jax.data.sampling import GroupSchedule, PersonIndex, plan_step, real_slots, sample_indices
from ltsh_jax.data.schema import min_distances
from ltsh_jax.data.sources import PeopleRecord


def _record(num_people: int, unlabelled=(), synthetic=(), pitch=float("nan")) -> PeopleRecord:
    rng = np.random.default_rng(num_people)
    keypoints = rng.uniform(5, 45, (num_people, 16, 2)).astype(np.float32)
    labelled = np.ones((num_people, 16), bool)
    labelled[list(unlabelled)] = False
    is_synthetic = np.zeros(num_people, bool)
    is_synthetic[list(synthetic)] = True
    return PeopleRecord(
        image=b"",
        keypoints=keypoints,
        labelled=labelled,
        centers=keypoints.mean(axis=1),
        scales=np.full(num_people, 0.5, np.float32),
        is_synthetic=is_synthetic,
        min_distance=min_distances(keypoints, labelled),
        camera_pitch=pitch,
    )


def test_every_annotated_person_is_a_sample():
    index = PersonIndex.build([_record(5), _record(3, unlabelled=[1], synthetic=[2], pitch=30.0)])
    assert len(index) == 7
    pairs = list(zip(index.record.tolist(), index.person.tolist(), strict=True))
    assert pairs == [(0, 0), (0, 1), (0, 2), (0, 3), (0, 4), (1, 0), (1, 2)]
    assert index.is_synthetic.tolist() == [False] * 6 + [True]
    assert np.isnan(index.camera_pitch[:5]).all() and (index.camera_pitch[5:] == 30.0).all()
    only = PersonIndex.build([_record(5), _record(3, unlabelled=[1], synthetic=[2], pitch=30.0)], "synthetic")
    assert only.record.tolist() == [1] and only.person.tolist() == [2]
    real = PersonIndex.build([_record(5), _record(3, unlabelled=[1], synthetic=[2], pitch=30.0)], "real")
    assert list(zip(real.record.tolist(), real.person.tolist(), strict=True)) == pairs[:6]  # all but (1, 2)
    with pytest.raises(ValueError, match="no annotated real people"):
        PersonIndex.build([_record(1, synthetic=[0])], "real")
    with pytest.raises(ValueError, match="people must be one of"):
        PersonIndex.build([_record(1)], "some")
    with pytest.raises(ValueError, match="no annotated people"):
        PersonIndex.build([_record(2, unlabelled=[0, 1])])


@pytest.mark.parametrize(
    "batch_size,fraction,want", [(32, 0.5, 16), (8, 0.25, 2), (6, 1.0, 6), (6, 0.0, 0), (10, 0.3, 3)]
)
def test_real_slots_count_and_spread(batch_size, fraction, want):
    real = real_slots(batch_size, fraction)
    assert real.sum() == want
    if fraction == 0.5:  # alternating: every even slice is half real
        assert all(real[i : i + 2].sum() == 1 for i in range(0, batch_size, 2))
    with pytest.raises(ValueError, match="real_fraction"):
        real_slots(4, 1.5)


def test_each_epoch_visits_every_real_sample_once():
    seen = np.concatenate([plan_step(s, seed=5, batch_size=3, real_fraction=1.0, num_real=7,
                                     synthetic_pool=None).samples for s in range(7)])  # fmt: skip
    epochs = seen.reshape(3, 7)
    for order in epochs:
        assert sorted(order) == list(range(7))
    assert len({tuple(order) for order in epochs}) > 1  # reshuffled every epoch
    np.testing.assert_array_equal(sample_indices(7, np.arange(21), 5), seen)


def test_plan_draws_synthetic_slots_from_the_pool_only():
    pool = np.array([3, 8, 9])
    for step in range(20):
        plan = plan_step(step, seed=1, batch_size=8, real_fraction=0.5, num_real=5, synthetic_pool=pool)
        assert plan.synthetic.sum() == 4
        assert set(plan.samples[plan.synthetic]) <= {3, 8, 9}
        assert (plan.samples[~plan.synthetic] < 5).all()
    a = plan_step(4, seed=1, batch_size=8, real_fraction=0.5, num_real=5, synthetic_pool=pool)
    b = plan_step(4, seed=1, batch_size=8, real_fraction=0.5, num_real=5, synthetic_pool=pool)
    np.testing.assert_array_equal(a.samples, b.samples)
    with pytest.raises(ValueError, match="no samples"):
        plan_step(0, seed=1, batch_size=8, real_fraction=0.5, num_real=5, synthetic_pool=np.array([], np.int64))


def test_process_plans_are_their_rows_of_the_global_plan():
    kwargs = dict(seed=2, batch_size=8, real_fraction=0.5, num_real=5, synthetic_pool=np.arange(4))
    whole = plan_step(3, **kwargs)
    for rows in ([0, 1], [6, 7], [1, 3, 5, 7], [2]):  # contiguous or not: each row is the global plan's
        part = plan_step(3, rows=rows, **kwargs)
        np.testing.assert_array_equal(part.slots, rows)
        for field in ("synthetic", "samples"):
            np.testing.assert_array_equal(getattr(part, field), getattr(whole, field)[rows])
    for bad in ([8], [-1], [3, 1], [2, 2], []):
        with pytest.raises(ValueError, match="rows must be ascending distinct slots"):
            plan_step(0, rows=bad, **kwargs)


def test_group_schedule():
    schedule = GroupSchedule([(0, None)])
    schedule.set(2, 10)
    schedule.set(5, 20)
    assert [schedule.group_at(s) for s in (0, 9, 10, 19, 20, 1000)] == [None, None, 2, 2, 5, 5]
    schedule.set(1, 15)  # a new choice replaces everything from its step on
    assert schedule.to_json() == [[0, None], [10, 2], [15, 1]]
    assert GroupSchedule.from_json(schedule.to_json()).entries == schedule.entries


def test_hidden_or_mostly_outside_synthetic_people_are_no_crop_centre_but_stay_in_the_record():
    """The reference skips fully occluded and cropped synthetic people as samples (fidelity issue, item 10).
    Rendered joints outside the image are unlabelled, so 'mostly outside' = fewer than 8 of 16 labelled."""
    import dataclasses

    from ltsh_jax.data.augment import AugmentParams
    from ltsh_jax.data.crops import make_example
    from ltsh_jax.skeleton import CMU_MPI

    record = _record(5, synthetic=[0, 1, 2, 3])
    labelled = record.labelled.copy()
    visible = labelled.copy()
    visible[1] = False  # person 1: every joint inside the image, all occluded
    labelled[2, 7:] = False  # person 2: 7 of 16 joints inside the image
    labelled[3, 8:] = False  # person 3: 8 of 16 inside: kept
    visible[3, 1:] = False  # ... with one visible joint
    visible[4] = False  # person 4 is real: its visibility does not matter
    record = dataclasses.replace(record, labelled=labelled, visible=visible & labelled)
    assert PersonIndex.build([record], "synthetic").person.tolist() == [0, 3]
    assert PersonIndex.build([record]).person.tolist() == [0, 3, 4]
    assert PersonIndex.build([dataclasses.replace(record, visible=None)]).person.tolist() == [0, 1, 3, 4]
    image = np.zeros((50, 50, 3), np.uint8)
    crop = make_example(dataclasses.replace(record, image=image), 0, np.random.default_rng(0),
                        AugmentParams(crop_size=64), CMU_MPI, 8, augment_crop=False)  # fmt: skip
    assert crop["people"].valid.sum() == 5  # the excluded people are still labelled in person 0's crop
