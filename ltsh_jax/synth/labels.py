"""Ground truth of a rendered synthetic image, from the 3D joints and the instance and depth buffers.

Per person (conventions of data_builders/features.py: 0-based pixels, centres at integers):
- keypoints [P, 16, 3] in MPII-16 order, v = 2 visible, 1 occluded, 0 outside the image (x = y = 0).
  A joint lies inside its body, so it is visible when the pixel it projects to shows its own person
  at a depth no more than `depth_tolerance` in front of it: the body's own surface around the joint
  (the tolerance is measured per joint from the mesh: 1.5 x the distance to about its 10th nearest vertex
  + 3 cm).
  Another person's pixel there means occluded by others; its own pixel much closer means occluded by
  itself (e.g. a wrist behind the torso); background there (a joint on its own silhouette's edge,
  thinner than a pixel) counts as occluded as well, so a visible joint always lies on its own pixels.
- head box: the box of the projected head top and upper neck, as a square centred on their midpoint
  with side = their distance (the rule data_builders uses for MPII records without head boxes), so
  PCKh normalises synthetic and real people alike.
- objpos: the projected midpoint of pelvis and thorax; scale: the person's projected standing height
  (sum of its bone lengths from ankle to head top) at its pelvis depth, / 200 px, pose independent
  like MPII's scale.
The minimal distance to the other people is computed from the keypoints by data_builders.features.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ltsh_jax.data.schema import NOT_LABELLED, OCCLUDED, VISIBLE
from ltsh_jax.synth.camera import Camera

# Why a labelled joint is occluded (for tests and statistics; not stored in the dataset).
REASON_NONE, REASON_OTHERS, REASON_SELF, REASON_EDGE = 0, 1, 2, 3
R_ANKLE, R_KNEE, R_HIP, L_HIP, L_KNEE, L_ANKLE, PELVIS, THORAX, UPPER_NECK, HEAD_TOP = range(10)
TOLERANCE_SCALE, TOLERANCE_MARGIN = 1.5, 0.03  # metres
# The body's local radius at a joint: distance to its NEAREST_K-th nearest vertex among every TOLERANCE_STRIDE-th
# (about the 10th nearest of all: robust to a single vertex close to the joint, and 5x cheaper).
NEAREST_K, TOLERANCE_STRIDE = 2, 5


@dataclasses.dataclass(frozen=True)
class PeopleLabels:
    """Labels of the P people of one image (see the module docstring)."""

    keypoints: np.ndarray  # float32 [P, 16, 3]
    head_box: np.ndarray  # float32 [P, 4]
    objpos: np.ndarray  # float32 [P, 2]
    scale: np.ndarray  # float32 [P]
    occlusion_reason: np.ndarray  # int8 [P, 16]
    depth: np.ndarray  # float32 [P, 16], metres along the optical axis


def depth_tolerances(vertices: list[np.ndarray], joints: np.ndarray) -> np.ndarray:
    """float [P, 16]: per joint, how far in front of it its own surface may be (see the module docstring)."""
    out = np.zeros(np.shape(joints)[:2])
    for p, body in enumerate(vertices):
        body = np.asarray(body, np.float32)[::TOLERANCE_STRIDE]
        dist2 = ((body[None] - np.asarray(joints[p], np.float32)[:, None]) ** 2).sum(-1)  # [16, V]
        k = min(NEAREST_K, dist2.shape[1]) - 1
        radius = np.sqrt(np.partition(dist2, k, axis=1)[:, k])
        out[p] = TOLERANCE_SCALE * radius + TOLERANCE_MARGIN
    return out


def standing_height(joints: np.ndarray) -> np.ndarray:
    """float [P]: ankle-knee-hip-pelvis-thorax-neck-head top bone lengths summed (legs averaged), metres."""
    joints = np.asarray(joints, np.float64)

    def bone(a: int, b: int) -> np.ndarray:
        return np.linalg.norm(joints[:, a] - joints[:, b], axis=-1)

    legs = (bone(R_ANKLE, R_KNEE) + bone(R_KNEE, R_HIP) + bone(L_ANKLE, L_KNEE) + bone(L_KNEE, L_HIP)) / 2
    hips = np.abs(joints[:, R_HIP, 1] - joints[:, PELVIS, 1]) + np.abs(joints[:, L_HIP, 1] - joints[:, PELVIS, 1])
    return legs + hips / 2 + bone(PELVIS, THORAX) + bone(THORAX, UPPER_NECK) + bone(UPPER_NECK, HEAD_TOP)


def head_boxes(head_top: np.ndarray, upper_neck: np.ndarray) -> np.ndarray:
    """float [P, 4]: squares around head top and upper neck [P, 2], centred on their midpoint, side = distance."""
    centre = (head_top + upper_neck) / 2
    half = np.linalg.norm(head_top - upper_neck, axis=-1, keepdims=True) / 2
    return np.concatenate([centre - half, centre + half], axis=-1)


def label_people(
    camera: Camera,
    instance: np.ndarray,
    depth: np.ndarray,
    joints: np.ndarray,
    tolerances: np.ndarray,
    stature: np.ndarray | None = None,
) -> PeopleLabels:
    """Labels of people 0..P-1 drawn with instance ids 1..P; joints [P, 16, 3] world, tolerances [P, 16] m."""
    joints = np.asarray(joints, np.float64)
    num = joints.shape[0]
    pixels, joint_depth = camera.project(joints)  # [P, 16, 2], [P, 16]
    inside = (
        (joint_depth > camera.near)
        & (pixels[..., 0] >= -0.5) & (pixels[..., 0] < camera.width - 0.5)
        & (pixels[..., 1] >= -0.5) & (pixels[..., 1] < camera.height - 0.5)
    )  # fmt: skip
    cols = np.clip(np.round(np.nan_to_num(pixels[..., 0])), 0, camera.width - 1).astype(np.int64)
    rows = np.clip(np.round(np.nan_to_num(pixels[..., 1])), 0, camera.height - 1).astype(np.int64)
    seen_id = instance[rows, cols]
    seen_depth = depth[rows, cols].astype(np.float64)
    own = seen_id == np.arange(1, num + 1)[:, None]
    front_enough = seen_depth >= joint_depth - tolerances
    visible = inside & own & front_enough
    reason = np.full((num, joints.shape[1]), REASON_NONE, np.int8)
    reason[inside & ~own & (seen_id > 0)] = REASON_OTHERS
    reason[inside & own & ~front_enough] = REASON_SELF
    reason[inside & (seen_id == 0)] = REASON_EDGE
    v = np.where(visible, VISIBLE, np.where(inside, OCCLUDED, NOT_LABELLED))
    xy = np.where(inside[..., None], pixels, 0.0)
    keypoints = np.concatenate([xy, v[..., None]], axis=-1).astype(np.float32)

    objpos = (pixels[:, PELVIS] + pixels[:, THORAX]) / 2
    heights = standing_height(joints) if stature is None else np.asarray(stature, np.float64)
    pelvis_depth = np.maximum(joint_depth[:, PELVIS], camera.near)
    scale = camera.focal * heights / pelvis_depth / 200.0
    return PeopleLabels(
        keypoints=keypoints,
        head_box=head_boxes(pixels[:, HEAD_TOP], pixels[:, UPPER_NECK]).astype(np.float32),
        objpos=np.nan_to_num(objpos).astype(np.float32),
        scale=scale.astype(np.float32),
        occlusion_reason=reason,
        depth=joint_depth.astype(np.float32),
    )
