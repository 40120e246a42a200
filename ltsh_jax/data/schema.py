"""The stored multi-person records: field conventions and codes, shared by data_builders and the library.

Every dataset of the project (real MPII and synthetic) stores one example per image with all its
annotated people (the TFDS features are data_builders/features.py). Conventions:
- Coordinates are 0-based image pixels, pixel centres at integers (MPII's 1-based Matlab values minus 1).
- `people/keypoints` [P, 16, 3]: x, y and v in MPII-16 joint order (ltsh_jax.skeleton.MPII16_NAMES);
  v = NOT_LABELLED (x = y = 0), OCCLUDED (labelled but occluded) or VISIBLE (or visibility unknown).
- `people/head_box` [P, 4]: x1, y1, x2, y2 of the head (PCKh head size = 0.6 * diagonal); NaN if unknown.
- `people/objpos` [P, 2]: a rough person centre; `people/scale` [P]: person height / 200 px.
- `people/is_synthetic` [P]: a rendered person (not annotated by hand).
- `people/min_distance` [P]: pixels from the person to the nearest other annotated person of the image
  (min_distances); ALONE_DISTANCE when the image has no other annotated person.
- `people/group_id` [P]: MPII multi-person evaluation group ("people in close proximity"); NO_GROUP if none.
- `people/covered_by_synthetic` [P, 16]: a real person's joint now hidden by a composited synthetic human
  (D_M, D_Style); the keypoint itself keeps its source annotation. False everywhere else.
- `camera_pitch`: degrees, NaN where unknown (real photos).
- `image`, `unannotated_mask`, `instance_mask`: encoded bytes (decoded by ltsh_jax.data.decoding).
  The image keeps the source file's bytes. `unannotated_mask` is an 8-bit PNG, non-zero on people
  without annotations; `instance_mask` a 16-bit PNG, k > 0 = person k - 1; b"" when there is none.
- `image/filename`, `image/height`, `image/width`: the source path (relative to the images folder) and size.
"""

from __future__ import annotations

import numpy as np

NOT_LABELLED = 0
"""Keypoint visibility code: the joint is not annotated (its x, y are 0)."""
OCCLUDED = 1
"""Keypoint visibility code: annotated, but hidden (by another person, the body itself or an object)."""
VISIBLE = 2
"""Keypoint visibility code: annotated and visible (or visibility unknown)."""
NO_GROUP = -1
"""group_id of a person outside every MPII multi-person group (and of every synthetic person)."""
ALONE_DISTANCE = 1e6
"""min_distance of a person without another annotated person in the image (larger than any image)."""


def min_distances(keypoints: np.ndarray, labelled: np.ndarray) -> np.ndarray:
    """float32 [P]: per person, the smallest distance between its labelled joints and another person's.

    keypoints [P, J, 2] pixels, labelled bool [P, J]; ALONE_DISTANCE where no other person has a labelled joint.
    """
    keypoints = np.asarray(keypoints, np.float64)
    labelled = np.asarray(labelled, bool)
    out = np.full(keypoints.shape[0], ALONE_DISTANCE, np.float64)
    for p in range(keypoints.shape[0]):
        mine = keypoints[p, labelled[p]]
        for q in range(keypoints.shape[0]):
            theirs = keypoints[q, labelled[q]]
            if q != p and len(mine) and len(theirs):
                out[p] = min(out[p], np.sqrt(((mine[:, None] - theirs[None]) ** 2).sum(-1)).min())
    return out.astype(np.float32)
