"""The one validator of annotation records against their images, for every builder and the mpii_json source.

An image is usable when its name stays in its folder (user_paths), its file exists and decodes to the end,
and every person has a labelled joint, all of them finite and within one image size of the image's pixels
(-width - 0.5 <= x <= 2 width - 0.5, same for y). A joint a little outside the image (a truncated person's
head top, common in PoseTrack, OCHuman and converted CrowdPose data) is data: crops and targets handle
joints outside a crop, and such images are counted as notes (joint_outside_image_kept), not skipped.
Otherwise the whole image is one problem of a BadInputReport, of kind unsafe_path, missing_image,
unreadable_image, no_visible_joint, non_finite_joint or joint_outside_image (the first found, in that
order), with a message naming the annotation record.

Decoding is the cost: every byte of every image is decoded (no header-only check: a truncated JPEG has a
valid header), JPEGs at 1/8 scale (Pillow's draft mode still reads all the entropy-coded data, so a truncated
or corrupt file fails; it skips the inverse DCT at full size). Measured on the 1280x720 MPII samples: 7 ms
per image against 10 ms for a full decode, on one core of a busy 2-core machine, so about 3 core-minutes per
25,000 images. Images are checked by a pool of threads, one per core (Pillow releases the
GIL while decoding), under a progress bar (shown on a terminal only).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import tqdm
from etils import epath
from PIL import Image, ImageFile

from ltsh_jax.data.bad_input import BadInputReport
from ltsh_jax.data.user_paths import UnsafePathError, confined_path
from ltsh_jax.skeleton import MPII16_NAMES

Problem = tuple[str, str]  # (kind, message)
ExtraCheck = Callable[[int, int, int], Problem | None]  # (image position, width, height) -> problem or None


@dataclasses.dataclass(frozen=True, eq=False)
class ImageToCheck:
    """An image named by an annotation file, with its people: 0-based pixel joints, the labelled ones flagged."""

    root: os.PathLike  # the folder the name must stay in (local or a cloud URI)
    name: str  # as the annotation file writes it
    where: str  # the annotation record naming the image, for messages
    keypoints: np.ndarray  # float [P, 16, 2]
    labelled: np.ndarray  # bool [P, 16]
    people_where: Sequence[str]  # per person, its record, for messages


def person_problem(keypoints: np.ndarray, labelled: np.ndarray, width: int, height: int, where: str) -> Problem | None:
    """(kind, message) when a person ([16, 2] 0-based joints, [16] labelled) cannot be used, else None."""
    if not labelled.any():
        return "no_visible_joint", f"{where}: the person has no labelled (visible) joint"
    x, y = keypoints[:, 0], keypoints[:, 1]
    finite = np.isfinite(keypoints).all(axis=-1)
    if (labelled & ~finite).any():
        j = int(np.flatnonzero(labelled & ~finite)[0])
        return "non_finite_joint", f"{where}: joint {j} ({MPII16_NAMES[j]}) is at ({x[j]}, {y[j]})"
    far = labelled & outside_image(keypoints, width, height, margin=1.0)
    if far.any():
        j = int(np.flatnonzero(far)[0])
        return "joint_outside_image", (
            f"{where}: joint {j} ({MPII16_NAMES[j]}) at 1-based ({x[j] + 1:g}, {y[j] + 1:g}) lies outside "
            f"the {width}x{height} image, more than one image size away"
        )
    return None


def outside_image(keypoints: np.ndarray, width: int, height: int, margin: float = 0.0) -> np.ndarray:
    """[..., 16] True where a joint lies beyond `margin` image sizes from the image's pixels (NaN: False)."""
    x, y = keypoints[..., 0], keypoints[..., 1]
    with np.errstate(invalid="ignore"):
        return (
            (x < -0.5 - margin * width)
            | (x > width - 0.5 + margin * width)
            | (y < -0.5 - margin * height)
            | (y > height - 0.5 + margin * height)
        )


def read_image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) after decoding the whole file (local or a cloud URI); OSError/ValueError if it is
    truncated or corrupt."""
    saved = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated JPEG must fail, whatever a caller set
    try:
        with epath.Path(path).open("rb") as file, Image.open(file) as image:
            size = image.size
            if image.format == "JPEG":
                image.draft("RGB", (max(1, size[0] // 8), max(1, size[1] // 8)))  # decodes every byte, 8x faster
            image.load()
        return size
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = saved


def check_image(item: ImageToCheck) -> tuple[tuple[int, int] | None, Problem | None]:
    """((width, height), None) for a usable image, else (size or None, its first problem)."""
    try:
        path = confined_path(item.root, item.name, item.where)
    except UnsafePathError as e:
        return None, ("unsafe_path", f"{e}; skipping the image")
    if not path.is_file():
        return None, ("missing_image", f"{item.where}: image file {path} does not exist")
    try:
        size = read_image_size(path)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        message = f"{item.where}: image file {path} does not decode ({e}); truncated or corrupt?"
        return None, ("unreadable_image", message)
    for keypoints, labelled, where in zip(item.keypoints, item.labelled, item.people_where, strict=True):
        found = person_problem(np.asarray(keypoints, np.float64), np.asarray(labelled, bool), *size, where)
        if found:
            return size, (found[0], f"{found[1]}; skipping image {item.name}")
    return size, None


def joints_outside_kept(item: ImageToCheck, width: int, height: int) -> int:
    """How many labelled joints of a usable image lie outside its pixels (within one image size): kept as data."""
    keypoints = np.asarray(item.keypoints, np.float64).reshape(-1, 16, 2)
    labelled = np.asarray(item.labelled, bool).reshape(-1, 16)
    return int((labelled & outside_image(keypoints, width, height)).sum())


def check_images(
    items: Sequence[ImageToCheck],
    report: BadInputReport,
    extra: ExtraCheck | None = None,
    num_threads: int | None = None,
    desc: str = "checking images",
) -> list[tuple[int, int] | None]:
    """The (width, height) of each usable image, None for each reported problem, in the order of `items`.

    Images are checked by `num_threads` threads (default: one per core); problems reach `report` in item
    order, so a "raise" report stops at the first bad item and a "skip" report's list is the same every run.
    `extra(i, width, height)` runs after the standard checks pass (e.g. a builder's mask check).
    """

    def one(i: int) -> tuple[tuple[int, int] | None, Problem | None]:
        size, problem = check_image(items[i])
        if problem is None and extra is not None:
            problem = extra(i, *size)
        return size, problem

    pool = ThreadPoolExecutor(num_threads or min(32, os.cpu_count() or 1))
    sizes: list[tuple[int, int] | None] = []
    try:
        checked = tqdm.tqdm(pool.map(one, range(len(items))), desc, len(items), disable=None)
        for item, (size, problem) in zip(items, checked, strict=True):
            if problem is not None:
                report.problem(*problem)
            elif count := joints_outside_kept(item, *size):
                report.note("joint_outside_image_kept", f"{item.where}: {count} labelled joint(s) a little "
                            "outside the image, kept (truncated people)")  # fmt: skip
            sizes.append(None if problem else size)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # after a raise: no image left being decoded
    return sizes
