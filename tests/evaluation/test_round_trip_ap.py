"""Ground truth -> targets -> decode -> MPII AP on real multi-person photographs: the pipeline loses nobody.

CrowdPose's crowded photos (head top and neck annotated, so the MPII head size exists; thorax and
pelvis derived from shoulders and hips for the CMU chest) and the MPII samples. Perfect maps must
score an mAP of at least 99 under the official protocol. A bottom-up decoder reaches a joint only
through labelled limbs, so joints cut off from their body (a wrist whose elbow is unlabelled) are
not counted as ground truth: without that rule these photos give 98.4 (one wrist, one hip).
"""

import numpy as np
from PIL import Image

from ltsh_jax.data.mpii_folder import load_mpii_json
from ltsh_jax.decode.assemble import decode
from ltsh_jax.evaluation import mpii_ap
from ltsh_jax.evaluation.records import GroundTruthImage, PredictionImage
from ltsh_jax.skeleton import CMU_MPI, from_mpii16
from tests.decode.test_assemble import SAMPLES, _crowdpose_to_cmu, _expected, _load, _maps

NO_GROUP = -1


def _head_boxes(mpii: np.ndarray) -> np.ndarray:
    """Square head boxes around head top (9) and upper neck (8), side = their distance (as the builder)."""
    centre = (mpii[:, 9] + mpii[:, 8]) / 2
    half = np.linalg.norm(mpii[:, 9] - mpii[:, 8], axis=-1)[:, None] / 2
    return np.concatenate([centre - half, centre + half], axis=1).astype(np.float64)


def _round_trip(name: str, mpii: np.ndarray, labelled: np.ndarray, size) -> tuple[GroundTruthImage, PredictionImage]:
    keep = labelled[:, 8] & labelled[:, 9]  # PCKh needs the head
    mpii, labelled = mpii[keep], labelled[keep]
    parts, parts_labelled = from_mpii16(CMU_MPI, mpii, labelled)
    reachable = np.zeros_like(labelled)
    for person, part_set in _expected(parts_labelled, CMU_MPI):
        ids = [m for m in (CMU_MPI.to_mpii16[k] for k in part_set) if m is not None]
        reachable[person, ids] = True
    labelled = labelled & (reachable | ~np.isin(np.arange(16), [m for m in CMU_MPI.to_mpii16 if m is not None]))
    people = decode(*_maps(parts, parts_labelled, CMU_MPI), skeleton=CMU_MPI, input_size=size)
    gt = GroundTruthImage(
        name, mpii.astype(np.float64), labelled, labelled, _head_boxes(mpii), np.zeros(len(mpii), np.int64)
    )
    pred = PredictionImage(
        name, people.keypoints.astype(np.float64), people.scores > 0, people.scores.astype(np.float64),
        people.person_scores.astype(np.float64),
    )  # fmt: skip
    return gt, pred


def test_perfect_maps_score_at_least_99_map_on_real_photos():
    gts, preds = [], []
    for image, kp, lab in _load("crowdpose"):
        _, _, mpii, mlab = _crowdpose_to_cmu(kp, lab)
        gt, pred = _round_trip(image["file_name"], mpii, mlab, (image["height"], image["width"]))
        gts.append(gt)
        preds.append(pred)
    for record in load_mpii_json(SAMPLES / "mpii", "test_mpii.json"):
        with Image.open(record.image_path) as im:
            width, height = im.size
        if height > 480 or width > 640:
            scale = min(480 / height, 640 / width)  # the test canvas: shrink the annotation with the image
            keypoints, size = record.keypoints * scale, (int(height * scale), int(width * scale))
        else:
            keypoints, size = record.keypoints, (height, width)
        gt, pred = _round_trip(record.image_path.name, keypoints, record.labelled, size)
        gts.append(gt)
        preds.append(pred)
    assert sum(g.num_people for g in gts) >= 9  # CrowdPose people with a head, and the 5 MPII people
    result = mpii_ap.evaluate(gts, preds)
    print(result.table)
    assert result.table["mAP"] >= 99.0, result.table
    assert min(result.table.values()) >= 95.0, result.table
    assert sum(int(g.present.sum()) for g in gts) >= 120  # the reachability rule drops only a few joints
