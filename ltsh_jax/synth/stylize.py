"""Masked photorealistic style transfer: synthetic humans restyled toward the real humans of a photo (D_Style).

The closed-form method of Li et al. (ECCV 2018), as the paper (section 3.4) uses it after Dundar et al.:
1. Both images are scaled so that their larger side is at most `max_side` (600 px in the paper).
2. Whitening and colouring (WCT) of region statistics: the features of the content region (the synthetic
   humans, from their render masks) are whitened with their own mean and covariance and coloured with
   the mean and covariance of the style region (the real humans of the style image). Only these two
   regions take part: everything else of the content image is left as it is.
3. Photorealistic smoothing with the matting affinity of the content image (ltsh_jax.synth.matting), solved
   on a window around the synthetic humans (a margin of 3x the smoothing's reach; outside it nothing is kept).
4. Back at the content's own resolution: in pixel space the WCT colour map (statistics measured at the
   transfer size) is applied at full resolution and only the smoothing's correction is scaled up; in
   another feature space the whole change is scaled up. Either is added inside the synthetic humans
   only, so every pixel outside them is unchanged, bit for bit, and the render's detail survives.

Features are pixels (RGB in [0, 1]) by default. A `FeatureSpace` with encode/decode runs the same WCT in
its feature space. A space whose decoder needs more than the features, or that runs several WCTs, is a
`TransferSpace`: it runs the transfer itself, calling the region WCT that `stylize` hands it on each pair
of content and style features. PhotoWCT's VGG encoder/decoder pair is one (ltsh_jax.synth.vgg_features:
its decoder unpools with the encoder's max-pool switches, and it goes coarse to fine, relu4_1 .. relu1_1);
it is built from weights the user supplies, none ship with the project.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol, runtime_checkable

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from ltsh_jax.synth import matting


class DegenerateRegionError(ValueError):
    """A region of the transfer (synthetic or real humans) has too few pixels to have colour statistics."""


class FeatureSpace(Protocol):
    """Where the WCT happens: encode an RGB image [H, W, 3] in [0, 1] to features [h, w, C] and back."""

    def encode(self, image: jax.Array) -> jax.Array:
        """Features [h, w, C] of an image [H, W, 3]."""
        ...

    def decode(self, features: jax.Array) -> jax.Array:
        """An image [H, W, 3] in [0, 1] from features [h, w, C]."""
        ...


class RegionWct(Protocol):
    """The masked WCT of one transfer: content features [h, w, C] whose synthetic-human region takes the mean and
    covariance of the style features' real-human region (both masks resized to the features' grid)."""

    def __call__(self, content: jax.Array, style: jax.Array, eps: float | None = None) -> jax.Array:
        """The moved content features; eps (default StylizeConfig.wct_eps) regularises the covariances."""
        ...


@runtime_checkable
class TransferSpace(Protocol):
    """A feature space that runs the transfer itself: encode, `wct` (once or more), decode to RGB."""

    def transfer(self, content: jax.Array, style: jax.Array, wct: RegionWct) -> jax.Array:
        """The restyled content image [H, W, 3] from the content [H, W, 3] and style [Hs, Ws, 3] images in [0, 1]."""
        ...


class PixelSpace:
    """The default feature space: the RGB values themselves."""

    def encode(self, image: jax.Array) -> jax.Array:
        """The image itself."""
        return image

    def decode(self, features: jax.Array) -> jax.Array:
        """The features, clipped to [0, 1]."""
        return jnp.clip(features, 0.0, 1.0)


@dataclasses.dataclass(frozen=True)
class StylizeConfig:
    """Settings of `stylize`.

    Attributes:
      max_side: the larger image side is scaled down to this before the transfer (never up).
      wct_eps: added to the covariance diagonals (features in [0, 1] units) before their square roots.
      smooth: run the photorealistic smoothing step.
      beta: smoothing strength in [0, 1) (1 / (1 + lambda) of Li et al.; their code uses 0.9999).
      matting_eps: regulariser of the matting affinity. The reference's 1e-7 (float64, direct solver) leaves
        float32 CG unconverged after 100 iterations on real photos; at 1e-4 it converges in 25-50 (max change
        under 1/255 at 25 iterations, beta 0.99), so the remaining iterations change little.
      cg_maxiter, cg_tol: conjugate-gradient limits of the smoothing solve.
      smooth_margin: the smoothing is solved on a window around the synthetic humans, this many pixels wider
        on each side (the smoothing's reach is about 1 / sqrt(1 - beta) = 10 px at 0.99); None = whole image.
      smooth_bucket: window sides are rounded up to multiples of this, so that few shapes are compiled.
      min_region_pixels: a region with fewer pixels (after scaling) raises DegenerateRegionError.
    """

    max_side: int = 600
    wct_eps: float = 1e-4
    smooth: bool = True
    beta: float = 0.99
    matting_eps: float = 1e-4
    cg_maxiter: int = 25
    cg_tol: float = 1e-3
    smooth_margin: int | None = 32
    smooth_bucket: int = 96
    min_region_pixels: int = 16


def fitted_shape(height: int, width: int, max_side: int) -> tuple[int, int]:
    """(height, width) scaled so that the larger side is at most max_side (aspect kept, never enlarged)."""
    factor = min(1.0, max_side / max(height, width))
    return max(1, round(height * factor)), max(1, round(width * factor))


def _check_image(image: np.ndarray, what: str) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
        raise ValueError(f"{what} must be a uint8 RGB image [H, W, 3], got {image.dtype} {image.shape}")
    return image


def _check_mask(mask: np.ndarray, image: np.ndarray, what: str) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.shape != image.shape[:2]:
        raise ValueError(f"{what} has shape {mask.shape}, but its image is {image.shape[0]}x{image.shape[1]}")
    return mask.astype(bool)


def _resize_image(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """uint8 [H, W, 3] -> float32 [h, w, 3] in [0, 1] (bicubic when shrinking)."""
    if image.shape[:2] != shape:
        image = np.asarray(Image.fromarray(image).resize((shape[1], shape[0]), Image.Resampling.BICUBIC))
    return image.astype(np.float32) / 255.0


def _resize_mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """bool [H, W] -> bool [h, w]: a pixel is in when more than half of it was (area-weighted)."""
    if mask.shape == shape:
        return mask
    image = Image.fromarray(mask.astype(np.float32), mode="F").resize((shape[1], shape[0]), Image.Resampling.BOX)
    return np.asarray(image) > 0.5


def smoothing_window(mask: np.ndarray, margin: int, bucket: int) -> tuple[slice, slice]:
    """Rows and columns of the window around mask's pixels (+ margin), sides rounded up to multiples of bucket."""
    height, width = mask.shape
    window = []
    for axis, size in ((1, height), (0, width)):
        found = np.flatnonzero(mask.any(axis=axis))
        low, high = max(0, found[0] - margin), min(size, found[-1] + 1 + margin)
        side = min(size, -(-(high - low) // bucket) * bucket)
        start = min(max(0, (low + high - side) // 2), size - side)
        window.append(slice(int(start), int(start + side)))
    return window[0], window[1]


def region_moments(features: jax.Array, mask: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Mean [C] and (biased) covariance [C, C] of features [h, w, C] over the pixels where mask [h, w] is set."""
    weights = jnp.asarray(mask, jnp.float32)[..., None]
    count = jnp.maximum(weights.sum(), 1.0)
    mean = (features * weights).sum(axis=(0, 1)) / count
    centred = (features - mean) * weights
    cov = jnp.einsum("hwa,hwb->ab", centred, centred) / count
    return mean, cov


def _matrix_power(cov: jax.Array, power: float, eps: float) -> jax.Array:
    values, vectors = jnp.linalg.eigh(cov + eps * jnp.eye(cov.shape[0], dtype=cov.dtype))
    return (vectors * jnp.maximum(values, eps) ** power) @ vectors.T


@jax.jit
def wct_transform(
    content: jax.Array, content_mask: jax.Array, style: jax.Array, style_mask: jax.Array, eps: float
) -> tuple[jax.Array, jax.Array]:
    """(A [C, C], b [C]) of the whitening-colouring map x -> A x + b = Cs^1/2 Cc^-1/2 (x - mc) + ms.

    mc, Cc: mean and covariance of the content features [h, w, C] over content_mask; ms, Cs: of the style
    features over style_mask. The map gives the content region the style region's mean and covariance.
    """
    content_mean, content_cov = region_moments(content, content_mask)
    style_mean, style_cov = region_moments(style, style_mask)
    matrix = _matrix_power(style_cov, 0.5, eps) @ _matrix_power(content_cov, -0.5, eps)
    return matrix, style_mean - matrix @ content_mean


def masked_wct(
    content: jax.Array, content_mask: jax.Array, style: jax.Array, style_mask: jax.Array, eps: float
) -> jax.Array:
    """Content features [h, w, C] whose masked region takes the style region's mean and covariance (WCT)."""
    matrix, offset = wct_transform(content, content_mask, style, style_mask, eps)
    return jnp.where(jnp.asarray(content_mask, bool)[..., None], content @ matrix.T + offset, content)


def _features_mask(mask: np.ndarray, features: jax.Array) -> np.ndarray:
    return _resize_mask(mask, tuple(features.shape[:2]))


def stylize(
    content: np.ndarray,
    content_mask: np.ndarray,
    style: np.ndarray,
    style_mask: np.ndarray,
    config: StylizeConfig = StylizeConfig(),
    feature_space: FeatureSpace | TransferSpace | None = None,
) -> np.ndarray:
    """The content image (uint8 [H, W, 3]) with its masked region restyled toward the style image's region.

    content_mask: [H, W], the synthetic humans (render masks); style_mask: [Hs, Ws], the real humans of
    `style` (uint8 [Hs, Ws, 3]). Pixels outside content_mask are returned unchanged. Raises ValueError on
    a mask whose size is not its image's and DegenerateRegionError when a region has too few pixels (at
    the resolution of any feature grid the WCT runs on). feature_space: where the WCT runs, None = pixels;
    a FeatureSpace (encode/decode) or a TransferSpace (e.g. vgg_features.VggFeatureSpace).
    """
    content = _check_image(content, "content image")
    style = _check_image(style, "style image")
    content_mask = _check_mask(content_mask, content, "content_mask (synthetic humans)")
    style_mask = _check_mask(style_mask, style, "style_mask (real humans)")
    space = PixelSpace() if feature_space is None else feature_space

    small_shape = fitted_shape(*content.shape[:2], config.max_side)
    small = jnp.asarray(_resize_image(content, small_shape))
    small_style = jnp.asarray(_resize_image(style, fitted_shape(*style.shape[:2], config.max_side)))

    def region_wct(content_features: jax.Array, style_features: jax.Array, eps: float | None = None) -> jax.Array:
        feature_mask = _features_mask(content_mask, content_features)
        feature_style_mask = _features_mask(style_mask, style_features)
        regions = (("synthetic humans (content_mask)", feature_mask), ("real humans (style_mask)", feature_style_mask))
        for name, mask in regions:
            if int(mask.sum()) < config.min_region_pixels:
                raise DegenerateRegionError(
                    f"the {name} region has {int(mask.sum())} pixels at the transfer resolution "
                    f"{mask.shape[0]}x{mask.shape[1]} (fewer than min_region_pixels={config.min_region_pixels})"
                )
        eps = config.wct_eps if eps is None else eps
        return masked_wct(content_features, feature_mask, style_features, feature_style_mask, eps)

    if isinstance(space, TransferSpace):
        result = space.transfer(small, small_style, region_wct)
    else:
        result = space.decode(region_wct(space.encode(small), space.encode(small_style)))
    if result.shape[:2] != small.shape[:2]:
        raise ValueError(f"the feature space decoded to {result.shape}, expected {small.shape}")
    full = content.astype(np.float32) / 255.0
    if isinstance(space, PixelSpace):
        # The pixel-space WCT is one colour map: apply it at full resolution, so that only the smoothing's
        # correction goes through the resampling (a resampled change would lose the map's effect on detail).
        small_mask, small_style_mask = _features_mask(content_mask, small), _features_mask(style_mask, small_style)
        matrix, offset = wct_transform(small, small_mask, small_style, small_style_mask, config.wct_eps)
        full = np.clip(full @ np.asarray(matrix).T + np.asarray(offset), 0.0, 1.0)
        result = jnp.clip(result, 0.0, 1.0)
        base = result
    else:
        base = small
    if config.smooth:
        rows, cols = (slice(None), slice(None))
        if config.smooth_margin is not None:
            rows, cols = smoothing_window(
                _resize_mask(content_mask, small_shape), config.smooth_margin, config.smooth_bucket
            )
        smoothed = matting.smooth(
            small[rows, cols],
            result[rows, cols],
            beta=config.beta,
            eps=config.matting_eps,
            maxiter=config.cg_maxiter,
            tol=config.cg_tol,
        )
        result = result.at[rows, cols].set(smoothed)
    change = result - base
    if small_shape != content.shape[:2]:
        change = jax.image.resize(change, full.shape, method="linear")
    restyled = np.clip(np.rint(255.0 * (full + np.asarray(change))), 0, 255).astype(np.uint8)
    return np.where(content_mask[..., None], restyled, content)
