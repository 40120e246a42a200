"""Writes GT and prediction images in the MPII multi-person interchange JSON (see mpii_json_io).

The canonical form: 1-element lists for scalars, "annopoints" as a 1-element list, a GT person's
"group" only where it has one; mpii_json_io reads it back to equal arrays.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence

import numpy as np

from ltsh_jax import paths
from ltsh_jax.data.schema import NO_GROUP
from ltsh_jax.evaluation.records import GroundTruthImage, PredictionImage


def _points_json(xy: np.ndarray, present: np.ndarray, extra: Mapping[str, np.ndarray]) -> list[dict]:
    points = []
    for k in np.flatnonzero(present):
        point = {"id": [int(k)], "x": [float(xy[k, 0])], "y": [float(xy[k, 1])]}
        point.update({field: [values[k].item()] for field, values in extra.items()})
        points.append(point)
    return points


def ground_truth_to_json(images: Sequence[GroundTruthImage]) -> dict:
    """GT images -> the canonical annolist dict (1-element lists, "group" only where set)."""
    annolist = []
    for img in images:
        rects = []
        for r in range(img.num_people):
            x1, y1, x2, y2 = (float(v) for v in img.head_boxes[r])
            rect = {"x1": [x1], "y1": [y1], "x2": [x2], "y2": [y2]}
            if img.groups[r] != NO_GROUP:
                rect["group"] = [int(img.groups[r])]
            vis = img.visible[r].astype(np.int64)
            rect["annopoints"] = [{"point": _points_json(img.keypoints[r], img.present[r], {"is_visible": vis})}]
            rects.append(rect)
        annolist.append({"image": [{"name": img.name}], "annorect": rects})
    return {"annolist": annolist}


def predictions_to_json(images: Sequence[PredictionImage]) -> dict:
    """Prediction images -> the canonical annolist dict."""
    annolist = []
    for img in images:
        rects = [
            {
                "score": [float(img.person_scores[r])],
                "annopoints": [{"point": _points_json(img.keypoints[r], img.present[r], {"score": img.scores[r]})}],
            }
            for r in range(img.num_people)
        ]
        annolist.append({"image": [{"name": img.name}], "annorect": rects})
    return {"annolist": annolist}


def write_json(path: str | os.PathLike, data: object) -> None:
    """Writes `data` as JSON (parent folders created; a local file or a cloud URI, replaced atomically)."""
    paths.write_atomically(path, json.dumps(data))
