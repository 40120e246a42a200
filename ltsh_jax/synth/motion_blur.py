"""Motion blur per person in image space: an approximation of the paper generator's vector blur.

What the generator does (DavHoffmann/Multi-humanDataGeneration, `datageneration/generate_multiHumanPose.py`):
it draws `vblur_factor ~ N(0.03, 0.03)` per image (l. 1969-1973) and feeds it to Blender's Vector Blur compositor
node (l. 566-568, 64 samples), which smears every pixel along its motion in the render's speed pass, times the
factor (the shutter, in frames). A rendered frame advances 10-20 mocap frames (`cmu_stepsize` 5 or 10 x
`stepsizeFactor` 2, l. 1117-1120, 1850): 1/12-1/6 s at CMU's 120 fps.

What we do instead (an approximation, not the generator's vector blur): our poses are single static frames, so
there is no speed pass. Each person gets an invented motion: a walking velocity on the ground plane, in a direction
drawn uniformly, at a speed drawn from SPEED_RANGE (m/s), over one frame interval drawn from FRAME_INTERVAL (s, per
image); its projection at the person's pelvis (shutter centred on the frame) is the person's image-space motion,
and the blur is that motion x the image's factor, a draw of N(mean, std) clipped at 0 (negative draws give no blur,
as Blender clamps the node's factor at its minimum 0). The whole body moves as one: no per-limb motion (what the
generator's blur mostly shows), no rotation, no perspective change along the motion.

The blur itself is a linear (box) blur along that 2D vector: the average of the person's layer shifted by t x motion,
t uniform in [-1/2, 1/2], each shift bilinearly interpolated (`line_kernel`). A person's layer is its premultiplied
colour and its coverage (alpha 1 on its pixels in the sharp render's instance mask); the blurred layers are
composited over the sharp background (the image without people: the procedural place, the billboard or the D_M
photo) far to near, the nearest person last as the renderer draws it (`blur_people`). The parts of a person hidden
by a nearer one are not in the single render: a farther person's layer has holes there, covered again by the nearer
person's layer except within a blur length of its edge (the generator's 2D vector blur has the same limit).
Labels (keypoints, visibility, instance mask) stay those of the sharp render, as in the generator.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from ltsh_jax.synth.camera import Camera

MODES = ("none", "vector")
GENERATOR_STRENGTH = (0.03, 0.03)  # mean, std of the generator's vblur_factor (l. 1969-1973)
SPEED_RANGE = (0.0, 2.0)  # m/s, uniform: standing still to a brisk walk (invented: the poses have no motion)
FRAME_INTERVAL = (1 / 12, 1 / 6)  # s, uniform: 10-20 mocap frames at 120 fps per rendered frame
SAMPLES_PER_PIXEL = 16  # points of the motion segment per pixel of its length, each splatted bilinearly
MAX_LENGTH_PX = 64.0  # a longer blur (a person very near the camera at a tail draw) is shortened to this


def check_settings(owner: str, mode: str, strength: tuple[float, float]) -> None:
    """ValueError naming `owner.motion_blur` or `owner.blur_strength` when the mode or the strength is invalid.

    strength: (mean, std) of the per-image blur factor; both must be finite and >= 0.
    """
    if mode not in MODES:
        raise ValueError(f"{owner}.motion_blur must be 'none' or 'vector', got {mode!r}")
    values = tuple(strength)
    if len(values) != 2 or not all(math.isfinite(float(v)) and float(v) >= 0 for v in values):
        raise ValueError(
            f"{owner}.blur_strength: the mean and standard deviation of the blur factor must be finite and >= 0, "
            f"got {strength!r}"
        )


def sample_image_motions(
    rng: np.random.Generator, camera: Camera, pelvis: np.ndarray, strength: tuple[float, float]
) -> np.ndarray:
    """float64 [P, 2]: the blur vector (pixels) of each person, from its pelvis [P, 3] (world, metres).

    Draws, in this order: the image's factor max(N(mean, std), 0), the frame interval, then per person a speed and
    a heading on the ground plane. The vector is factor x the projected displacement of the pelvis over the frame
    interval (from -1/2 to +1/2 of it), shortened to MAX_LENGTH_PX.
    """
    pelvis = np.asarray(pelvis, np.float64).reshape(-1, 3)
    factor = max(float(rng.normal(strength[0], strength[1])), 0.0)
    interval = float(rng.uniform(*FRAME_INTERVAL))
    speed = rng.uniform(*SPEED_RANGE, size=len(pelvis))
    heading = rng.uniform(0.0, 2 * np.pi, size=len(pelvis))
    step = np.stack([np.cos(heading), np.zeros_like(heading), np.sin(heading)], -1) * (speed * interval)[:, None]
    start, _ = camera.project(pelvis - step / 2)
    end, _ = camera.project(pelvis + step / 2)
    motion = np.nan_to_num(factor * (end - start))  # a pelvis behind the camera (never placed so): no blur
    length = np.hypot(motion[:, 0], motion[:, 1])
    return motion * np.minimum(1.0, MAX_LENGTH_PX / np.maximum(length, 1e-12))[:, None]


def line_kernel(motion: tuple[float, float] | np.ndarray) -> np.ndarray:
    """float64 [2r + 1, 2r + 1] (rows y, columns x, centre at [r, r]): a box blur along `motion` (dx, dy) pixels.

    The mean of bilinear splats of SAMPLES_PER_PIXEL x length points at the midpoints of equal pieces of the
    segment from -motion / 2 to +motion / 2; sums to 1. Length 0: [[1]] (the identity). For a motion along an axis
    with an even integer length the midpoint rule is exact: (4, 0) gives the 5 x 5 kernel whose middle row is
    [1, 2, 2, 2, 1] / 8.
    """
    dx, dy = (float(v) for v in motion)
    length = math.hypot(dx, dy)
    if length == 0:
        return np.ones((1, 1))
    count = max(1, math.ceil(length * SAMPLES_PER_PIXEL))
    t = (np.arange(count) + 0.5) / count - 0.5
    xs, ys = t * dx, t * dy
    radius = max(1, math.ceil(max(abs(dx), abs(dy)) / 2))  # samples lie strictly within +-length / 2
    kernel = np.zeros((2 * radius + 1, 2 * radius + 1))
    x0, y0 = np.floor(xs), np.floor(ys)
    fx, fy = xs - x0, ys - y0
    cols, rows = x0.astype(np.int64) + radius, y0.astype(np.int64) + radius
    for drow, dcol, weight in (
        (0, 0, (1 - fx) * (1 - fy)),
        (0, 1, fx * (1 - fy)),
        (1, 0, (1 - fx) * fy),
        (1, 1, fx * fy),
    ):
        np.add.at(kernel, (rows + drow, cols + dcol), weight)
    return kernel / count


def blur_people(
    color: np.ndarray, instance: np.ndarray, depth: np.ndarray, background: np.ndarray, motions: np.ndarray
) -> np.ndarray:
    """uint8 [H, W, 3]: the sharp render `color` with person k (instance k + 1) blurred along motions[k] (dx, dy).

    Each person's premultiplied colour and coverage (its pixels in `instance`) is convolved with
    `line_kernel(motions[k])` and composited over `background` (uint8 [H, W, 3], the image without people), farther
    people first (median of `depth` over a person's pixels), so the nearest is drawn last. Returns `color` itself
    when every motion is zero (byte-identical); where no blurred person reaches, the background is kept exactly.
    """
    motions = np.asarray(motions, np.float64).reshape(-1, 2)
    if not np.any(motions):
        return color
    height, width = instance.shape
    people = [k for k in range(len(motions)) if (instance == k + 1).any()]
    order = sorted(people, key=lambda k: -float(np.median(depth[instance == k + 1])))
    out = np.asarray(background, np.float64).copy()
    for k in order:
        mask = instance == k + 1
        kernel = line_kernel(motions[k])
        radius = kernel.shape[0] // 2
        rows, cols = np.nonzero(mask)
        top, bottom = max(rows.min() - radius, 0), min(rows.max() + radius + 1, height)
        left, right = max(cols.min() - radius, 0), min(cols.max() + radius + 1, width)
        crop = mask[top:bottom, left:right]
        layer = np.concatenate([color[top:bottom, left:right] * crop[..., None], crop[..., None]], -1).astype(float)
        if radius:
            layer = ndimage.convolve(layer, kernel[..., None], mode="constant", cval=0.0)
        under = out[top:bottom, left:right]
        out[top:bottom, left:right] = layer[..., :3] + (1 - layer[..., 3:]) * under
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
