"""Masks of the real humans of a photograph: the style regions of the masked stylization (D_Style).

The paper segments the real people with Mask R-CNN. Two sources are offered here, behind one interface:
- `KeypointSegmenter` (the default, no network): a person's mask drawn from the annotated keypoints,
  limb capsules (segments with round caps) whose radius follows the person's size, the torso polygon,
  a neck capsule and a head disc. Coarse at the silhouette, but never far from a person.
- `FolderSegmenter`: user-supplied masks, one PNG per image (for example the MPII masks released by the
  paper's authors), nonzero = person; a mask whose size is not the image's raises a ValueError naming
  the file.
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Protocol

import numpy as np
from PIL import Image, ImageDraw

from ltsh_jax.data.user_paths import confined_path
from ltsh_jax.skeleton import NUM_MPII16

# MPII-16 ids (ltsh_jax.skeleton.MPII16_NAMES).
R_ANKLE, R_KNEE, R_HIP, L_HIP, L_KNEE, L_ANKLE, PELVIS, THORAX, NECK, HEAD_TOP = range(10)
R_WRIST, R_ELBOW, R_SHOULDER, L_SHOULDER, L_ELBOW, L_WRIST = range(10, 16)

# Capsules (joint a, joint b, radius as a fraction of the person's height).
ARM_RADIUS, LEG_RADIUS, TRUNK_RADIUS = 0.03, 0.045, 0.05
CAPSULES = (
    (R_ANKLE, R_KNEE, LEG_RADIUS), (R_KNEE, R_HIP, LEG_RADIUS), (L_HIP, L_KNEE, LEG_RADIUS),
    (L_KNEE, L_ANKLE, LEG_RADIUS), (R_WRIST, R_ELBOW, ARM_RADIUS), (R_ELBOW, R_SHOULDER, ARM_RADIUS),
    (L_SHOULDER, L_ELBOW, ARM_RADIUS), (L_ELBOW, L_WRIST, ARM_RADIUS), (THORAX, NECK, ARM_RADIUS),
    (PELVIS, THORAX, TRUNK_RADIUS), (R_HIP, PELVIS, TRUNK_RADIUS), (L_HIP, PELVIS, TRUNK_RADIUS),
    (R_SHOULDER, THORAX, ARM_RADIUS), (L_SHOULDER, THORAX, ARM_RADIUS),
)  # fmt: skip
TORSO = (R_SHOULDER, L_SHOULDER, L_HIP, R_HIP)
HEAD_RADIUS = 0.6  # head disc radius, as a fraction of the head-top to upper-neck distance
MPII_SCALE_PX = 200.0  # MPII `scale` is the person's height in units of 200 px


class Segmenter(Protocol):
    """Real-human mask of one image: bool [H, W], true on people."""

    def __call__(self, image_name: str, shape: tuple[int, int], keypoints: np.ndarray) -> np.ndarray:
        """Mask of `image_name` (shape (H, W)) whose annotated people are keypoints [P, 16, 3] (x, y, v)."""
        ...


def _check_keypoints(keypoints: np.ndarray) -> np.ndarray:
    keypoints = np.asarray(keypoints, np.float64)
    if keypoints.ndim != 3 or keypoints.shape[1:] != (NUM_MPII16, 3):
        raise ValueError(f"keypoints must have shape [P, {NUM_MPII16}, 3] (x, y, v), got {keypoints.shape}")
    return keypoints


def person_height(keypoints: np.ndarray) -> float:
    """A person's height in pixels from keypoints [16, 3]: the larger extent of the labelled joints, x 1.15."""
    labelled = keypoints[:, 2] > 0
    if not labelled.any():
        return 0.0
    points = keypoints[labelled, :2]
    return 1.15 * float((points.max(0) - points.min(0)).max())


def draw_person(draw: ImageDraw.ImageDraw, keypoints: np.ndarray, height: float) -> None:
    """Draws one person's capsules, torso and head (value 255) with `draw`; keypoints [16, 3] (x, y, v)."""
    labelled = keypoints[:, 2] > 0
    xy = keypoints[:, :2]

    def disc(centre: np.ndarray, radius: float) -> None:
        x, y = centre
        draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=255)

    for a, b, fraction in CAPSULES:
        if labelled[a] and labelled[b]:
            radius = max(1.0, fraction * height)
            draw.line([tuple(xy[a]), tuple(xy[b])], fill=255, width=max(1, round(2 * radius)))
            disc(xy[a], radius)
            disc(xy[b], radius)
    if labelled[list(TORSO)].all():
        draw.polygon([tuple(xy[i]) for i in TORSO], fill=255)
    if labelled[HEAD_TOP] and labelled[NECK]:
        length = float(np.linalg.norm(xy[HEAD_TOP] - xy[NECK]))
        disc((xy[HEAD_TOP] + xy[NECK]) / 2, HEAD_RADIUS * length)


@dataclasses.dataclass(frozen=True)
class KeypointSegmenter:
    """Masks drawn from annotated keypoints; `scales` (MPII person height / 200 px) set the limb widths if given."""

    def __call__(
        self, image_name: str, shape: tuple[int, int], keypoints: np.ndarray, scales: np.ndarray | None = None
    ) -> np.ndarray:
        """Union of the people's masks, bool [H, W]; `image_name` only names the image in errors."""
        keypoints = _check_keypoints(keypoints)
        height, width = shape
        canvas = Image.new("L", (width, height), 0)
        draw = ImageDraw.Draw(canvas)
        for p, person in enumerate(keypoints):
            size = person_height(person)
            if scales is not None and np.isfinite(scales[p]) and scales[p] > 0:
                size = float(scales[p]) * MPII_SCALE_PX
            if not np.isfinite(person[person[:, 2] > 0, :2]).all():
                raise ValueError(f"{image_name}: person {p} has non-finite labelled keypoints")
            draw_person(draw, person, size)
        return np.asarray(canvas) > 0


@dataclasses.dataclass(frozen=True)
class FolderSegmenter:
    """User-supplied masks: `folder`/<image stem>.png, nonzero = person (any PNG mode)."""

    folder: pathlib.Path

    def path(self, image_name: str) -> pathlib.Path:
        """The mask file of an image (by the image file's stem), confined to the folder (UnsafePathError)."""
        stem = pathlib.PurePosixPath(image_name.replace("\\", "/")).stem
        return confined_path(self.folder, stem + ".png", f"the mask of image {image_name}")

    def __call__(self, image_name: str, shape: tuple[int, int], keypoints: np.ndarray | None = None) -> np.ndarray:
        """The mask of `image_name` as bool [H, W]; FileNotFoundError if absent, ValueError if of another size."""
        path = self.path(image_name)
        if not path.is_file():
            raise FileNotFoundError(f"no mask for {image_name}: {path} does not exist")
        with Image.open(path) as image:
            mask = np.asarray(image)
        if mask.ndim == 3:
            mask = mask.max(axis=-1)
        if mask.shape != tuple(shape):
            raise ValueError(
                f"mask {path} is {mask.shape[0]}x{mask.shape[1]}, but image {image_name} is {shape[0]}x{shape[1]}"
            )
        return mask > 0
