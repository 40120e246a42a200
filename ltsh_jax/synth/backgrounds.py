"""Background images for synthetic scenes: procedural (the embedded default), a folder of photos, or TFDS sun397.

Every source is a callable `source(rng, width, height) -> uint8 [height, width, 3]`, drawing all its
choices from `rng`, so a scene seed fixes its background. Photos smaller than 512x512 are rejected,
as in the paper (section 3.2; TFDS sun397 stores photos downscaled to at most 120,000 pixels, so there
the rule becomes "TFDS downscaled it": see `sun397_backgrounds`); an optional `reject(image) -> bool` hook
drops photos that contain people (the paper used Mask-RCNN; plug any detector in). Photos are scaled so
that they cover the frame, then cropped at a random place.
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image, ImageDraw

MIN_SIDE = 512
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
RejectHook = Callable[[np.ndarray], bool]


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(0, 255, 3)


def _mix(t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """float32 [H, W, 3]: per pixel, t in [0, 1] between two random colours."""
    low, high = _random_colour(rng).astype(np.float32), _random_colour(rng).astype(np.float32)
    return low + t[..., None] * (high - low)


def _gradient(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    angle = rng.uniform(0, 2 * np.pi)
    x = np.linspace(-0.5, 0.5, width, dtype=np.float32)
    y = np.linspace(-0.5, 0.5, height, dtype=np.float32)
    t = np.cos(angle) * x[None, :] + np.sin(angle) * y[:, None] + 0.5
    if rng.random() < 0.2:  # stripes: the gradient repeated
        t = (t * rng.integers(2, 8)) % 1.0
    return _mix(np.clip(t, 0, 1), rng)


def _noise(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Value noise: a few octaves of random grids upsampled bilinearly, tinted between two colours."""
    total = np.zeros((height, width), np.float32)
    for octave in range(int(rng.integers(2, 5))):
        cells = 2 ** (octave + int(rng.integers(1, 4)))
        grid = rng.random((cells, cells)).astype(np.float32)
        layer = Image.fromarray(grid, mode="F").resize((width, height), Image.Resampling.BILINEAR)
        total += np.asarray(layer) / 2**octave
    total = (total - total.min()) / max(float(total.max() - total.min()), 1e-6)
    return _mix(total, rng)


def _shapes(rng: np.random.Generator, canvas: Image.Image) -> None:
    draw = ImageDraw.Draw(canvas)
    width, height = canvas.size
    for _ in range(int(rng.integers(3, 25))):
        colour = tuple(int(c) for c in _random_colour(rng))
        x0, y0 = rng.uniform(-0.2, 1.0, 2) * (width, height)
        w, h = rng.uniform(0.03, 0.5, 2) * (width, height)
        kind = rng.integers(3)
        if kind == 0:
            draw.rectangle([x0, y0, x0 + w, y0 + h], fill=colour)
        elif kind == 1:
            draw.ellipse([x0, y0, x0 + w, y0 + h], fill=colour)
        else:
            points = rng.uniform(0, 1, (int(rng.integers(3, 7)), 2)) * (w, h) + (x0, y0)
            draw.polygon([tuple(p) for p in points], fill=colour)


def procedural_background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """uint8 [height, width, 3]: a gradient or noise base, a ground/sky split, shapes, a little blur.

    Drawn at a random fraction of the size (1/4 to 1) and scaled up bilinearly: the blur, and cheap.
    """
    factor = float(rng.uniform(0.25, 1.0))
    w, h = max(8, round(width * factor)), max(8, round(height * factor))
    base = _gradient(rng, w, h) if rng.random() < 0.5 else _noise(rng, w, h)
    if rng.random() < 0.5:  # a horizon: a different lower part, as floors and streets are
        horizon = int(rng.uniform(0.2, 0.8) * h)
        base[horizon:] = 0.4 * base[horizon:] + 0.6 * _noise(rng, w, h - horizon)
    canvas = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), mode="RGB")
    if rng.random() < 0.8:
        _shapes(rng, canvas)
    canvas = canvas.resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(canvas, np.uint8)


def fit_crop(image: np.ndarray, rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Scales `image` to cover width x height (and up to 1.5x more), then crops a random window."""
    h, w = image.shape[:2]
    scale = max(width / w, height / h) * rng.uniform(1.0, 1.5)
    new_w, new_h = max(width, round(w * scale)), max(height, round(h * scale))
    resized = np.asarray(Image.fromarray(image).resize((new_w, new_h), Image.Resampling.BILINEAR))
    x0 = int(rng.integers(0, new_w - width + 1))
    y0 = int(rng.integers(0, new_h - height + 1))
    return np.ascontiguousarray(resized[y0 : y0 + height, x0 : x0 + width])


def read_photo(path: pathlib.Path) -> np.ndarray:
    """uint8 RGB [H, W, 3]; ValueError naming the file if it cannot be decoded."""
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"), np.uint8)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise ValueError(f"{path}: cannot read background image ({e})") from None


class PhotoBackgrounds:
    """Backgrounds drawn from a list of photos (a folder, or any indexable source), with rejection counts."""

    def __init__(
        self,
        load: Callable[[int], np.ndarray],
        count: int,
        *,
        name: str,
        reject: RejectHook | None = None,
        min_side: int = MIN_SIDE,
        min_pixels: int = 0,
        max_tries: int = 100,
    ):
        if count < 1:
            raise ValueError(f"{name}: no background image")
        self._load, self.count, self.name = load, count, name
        self.reject, self.min_side, self.min_pixels, self.max_tries = reject, min_side, min_pixels, max_tries
        self.rejected_small = 0
        self.rejected_by_hook = 0

    def __call__(self, rng: np.random.Generator, width: int, height: int) -> np.ndarray:
        """A random accepted photo, fitted to width x height; ValueError after max_tries rejections in a row."""
        for _ in range(self.max_tries):
            image = self._load(int(rng.integers(self.count)))
            h, w = image.shape[:2]
            if min(h, w) < self.min_side or h * w < self.min_pixels:
                self.rejected_small += 1
                continue
            if self.reject is not None and self.reject(image):
                self.rejected_by_hook += 1
                continue
            return fit_crop(image, rng, width, height)
        small = f"{self.min_side}x{self.min_side}" + (f" or {self.min_pixels} pixels" if self.min_pixels else "")
        raise ValueError(
            f"{self.name}: {self.max_tries} background images in a row rejected "
            f"(smaller than {small}: {self.rejected_small}, by the hook: {self.rejected_by_hook})"
        )


def folder_backgrounds(folder: str | pathlib.Path, **kwargs) -> PhotoBackgrounds:
    """Photos under `folder` (recursively, sorted, by suffix); FileNotFoundError if there is none."""
    folder = pathlib.Path(folder).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"background folder {folder} does not exist")
    paths: Sequence[pathlib.Path] = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise FileNotFoundError(f"background folder {folder} holds no image ({', '.join(IMAGE_SUFFIXES)})")
    return PhotoBackgrounds(lambda i: read_photo(paths[i]), len(paths), name=str(folder), **kwargs)


def sun397_backgrounds(data_dir: str | pathlib.Path, split: str = "train", **kwargs) -> PhotoBackgrounds:
    """TFDS `sun397` as prepared by the user (array_record, for random access); FileNotFoundError if not built.

    Every registered sun397 config stores photos downscaled to at most `target_pixels` (120,000), so no stored
    photo is 512x512. The paper's rule then becomes: keep the photos TFDS downscaled (their originals had more
    than `target_pixels` pixels; the stored ones have about that many), reject the ones stored at their original,
    smaller size. This is looser than 512x512 (a 640x480 original passes); pass `min_side`/`min_pixels` to override.
    """
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder("sun397", data_dir=str(data_dir))
    except Exception as e:  # noqa: BLE001 - TFDS raises many kinds for a missing dataset
        raise FileNotFoundError(f"TFDS sun397 not found under {data_dir} ({e})") from None
    if not builder.is_prepared():
        raise FileNotFoundError(f"TFDS sun397 is not prepared under {data_dir}; prepare it with TFDS first")
    try:
        source = builder.as_data_source(split=split)
    except NotImplementedError:  # TFDS's answer for a format without random access (tfrecord, `tfds build`'s default)
        raise ValueError(
            f"TFDS sun397 under {data_dir} is stored as {builder.info.file_format.value}, which has no random access; "
            "prepare it with `tfds build sun397 --file_format=array_record`"
        ) from None
    cap = getattr(builder.builder_config, "target_pixels", None)
    if cap and cap < MIN_SIDE**2:  # see the docstring: cv2 rounding moves a downscaled size by well under 2%
        kwargs.setdefault("min_side", 0)
        kwargs.setdefault("min_pixels", int(0.98 * cap))

    def load(i: int) -> np.ndarray:
        image = source[i]["image"]
        if isinstance(image, bytes):
            import io

            return read_photo(io.BytesIO(image))  # type: ignore[arg-type]
        return np.asarray(image, np.uint8)[..., :3]

    return PhotoBackgrounds(load, len(source), name=f"sun397 in {data_dir}", **kwargs)
