"""Exports MPII predictions to the COCO keypoint results format.

Each predicted person becomes `{"image_id": int, "category_id": 1, "keypoints": [x, y, s] * K,
"score": person score}` with the K parts of a skeleton (COCO-17 by default) filled from their
MPII-16 counterpart by name (Skeleton.to_mpii16); parts without one, or not predicted, are 0, 0, 0.
"""

from __future__ import annotations

import pathlib
from collections.abc import Mapping, Sequence

from ltsh_jax.evaluation.records import PredictionImage
from ltsh_jax.skeleton import COCO17, Skeleton


def default_image_id(name: str) -> int:
    """MPII names are numbers ("015601864.jpg" -> 15601864); anything else needs explicit ids."""
    stem = pathlib.PurePosixPath(name).stem
    if not stem.isdigit():
        raise ValueError(f"image '{name}': its name is not a number; pass image_ids to choose COCO image ids")
    return int(stem)


def to_coco_results(
    predictions: Sequence[PredictionImage], skeleton: Skeleton = COCO17, image_ids: Mapping[str, int] | None = None
) -> list[dict]:
    """Predicted people -> COCO keypoint results (a list of dicts, ready for json.dump)."""
    out = []
    for img in predictions:
        if image_ids is None:
            image_id = default_image_id(img.name)
        elif img.name in image_ids:
            image_id = int(image_ids[img.name])
        else:
            raise ValueError(f"image '{img.name}': not in image_ids")
        for r in range(img.num_people):
            keypoints = []
            for mpii_id in skeleton.to_mpii16:
                if mpii_id is None or not img.present[r, mpii_id]:
                    keypoints += [0.0, 0.0, 0.0]
                else:
                    x, y = img.keypoints[r, mpii_id]
                    keypoints += [float(x), float(y), float(img.scores[r, mpii_id])]
            out.append(
                {"image_id": image_id, "category_id": 1, "keypoints": keypoints, "score": float(img.person_scores[r])}
            )
    return out
