"""Test-time scale from the people's size: the rule by hand, and one photo at two resolutions gives the same people.

A 'perfect network' (the target maps of the photo's person at the input it is shown) stands in for the
student, so what is checked is the scaling, the decoding grid and the mapping back to image pixels.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ltsh_jax.data.mpii_folder import load_mpii_json
from ltsh_jax.data.schema import NO_GROUP
from ltsh_jax.data.sources import PeopleRecord
from ltsh_jax.evaluation import run
from ltsh_jax.skeleton import CMU_MPI, from_mpii16
from tests.decode.test_maps import _oracle
from tests.paths import REAL_SAMPLES

TARGET_SCALE = 1.25  # the paper config's crop scale: people about 250 px tall at the network


def _record(image: np.ndarray, keypoints, labelled, scales, name: str) -> PeopleRecord:
    """A PeopleRecord of the photo with square head boxes around head top and upper neck."""
    centre, half = (keypoints[:, 9] + keypoints[:, 8]) / 2, np.linalg.norm(keypoints[:, 9] - keypoints[:, 8], axis=-1)
    head_box = np.concatenate([centre - half[:, None] / 2, centre + half[:, None] / 2], axis=1)
    p = len(keypoints)
    return PeopleRecord(
        image=image, keypoints=keypoints.astype(np.float32), labelled=labelled, centers=keypoints.mean(1),
        scales=np.asarray(scales, np.float32), is_synthetic=np.zeros(p, bool), min_distance=np.full(p, np.inf),
        name=name, head_box=head_box.astype(np.float32), group_id=np.full(p, NO_GROUP, np.int32),
    )  # fmt: skip


def _enlarged(record: PeopleRecord, factor: int) -> PeopleRecord:
    """The same photo `factor` times larger (pixel centres: p -> (p + 0.5) * factor - 0.5)."""
    h, w = record.image.shape[:2]
    image = np.asarray(Image.fromarray(record.image).resize((w * factor, h * factor), Image.BILINEAR))
    keypoints = (record.keypoints + 0.5) * factor - 0.5
    return _record(image, keypoints, record.labelled, record.scales * factor, record.name)


def test_people_size_height_by_hand():
    image = np.zeros((256, 320, 3), np.uint8)
    kp = np.zeros((3, 16, 2), np.float32)
    labelled = np.array([[True] * 16, [True] * 16, [False] * 16])
    record = _record(image, kp, labelled, [0.4, 0.6, 0.05], "a")
    # the unlabelled person's scale does not count: 256 * 1.0 / mean(0.4, 0.6) = 512
    assert run.people_size_height(record, 1.0) == 512
    assert run.people_size_height(_record(image, kp, labelled, [0.4, np.nan, 9.0], "b"), 1.25) == 800
    assert run.people_size_height(_record(image, kp[:0], labelled[:0], [], "c"), 1.25) is None


@pytest.mark.parametrize("sample", range(5))
def test_one_photo_at_two_resolutions_gives_the_same_people(sample):
    source = load_mpii_json(REAL_SAMPLES / "mpii", "test_mpii.json")[sample]
    with Image.open(source.image_path) as im:
        photo = np.asarray(im.convert("RGB"))
    small = _record(photo, source.keypoints, source.labelled, source.scales, source.image_path.name)
    large = _enlarged(small, 2)
    height = run.people_size_height(small, TARGET_SCALE)
    assert height == run.people_size_height(large, TARGET_SCALE)
    assert height < 368  # MPII's people are large: the fixed 368 px rule would show them 1.5-2x too big
    # the oracle knows only the small photo's person at that input size: the large photo must be shown the same
    parts, parts_labelled = from_mpii16(CMU_MPI, small.keypoints, small.labelled)
    apply_fn = _oracle(photo, parts[0], (1.0,), [], base_size=height, labelled=parts_labelled[0])
    results = {}
    for key, record in (("small", small), ("large", large)):
        (result,) = run.predict_examples(
            apply_fn, None, [record], skeleton=CMU_MPI, scales=(1.0,), flip=False, target_scale=TARGET_SCALE
        )
        assert len(result.people) == 1, key
        results[key] = result
    found = [results[k].people.keypoints[0][results[k].people.scores[0] > 0] for k in ("small", "large")]
    np.testing.assert_allclose(found[1], (found[0] + 0.5) * 2 - 0.5, atol=2.0)  # 2 px at the large size
    for key, record in (("small", small), ("large", large)):
        truth, people = results[key].ground_truth, results[key].people
        scored, _ = run.score([truth], [run.to_prediction(record.name, people)], multi_person_groups=False)
        assert scored.table["mAP"] >= 99.0, (key, scored.table)
