"""Photorealistic smoothing, step 2 of the closed-form stylization of Li et al. (ECCV 2018), in JAX.

The stylized image Y is smoothed under the guidance of the content image I: the result R minimises
    sum_ij w_ij || R_i / sqrt(d_i) - R_j / sqrt(d_j) ||^2 + lambda || R - Y ||^2,
with w_ij the matting affinity of I (Levin et al., 2008) over 3x3 windows and d_i = sum_j w_ij, so that
neighbouring pixels of similar content colour get similar output colour (no stylization artifacts).
Its closed form is (Id - beta S) R = (1 - beta) Y, S = D^-1/2 W D^-1/2, beta = 1 / (1 + lambda).

The reference code builds W as a sparse matrix and calls a direct solver. Here W is never formed: its
product with an image is two rounds of 3x3 box sums over per-window statistics (He et al., 2010), and
the symmetric positive definite system is solved with jax.scipy.sparse.linalg.cg over a matrix-free
operator, warm-started at Y. Id - beta S is SPD because the normalised Laplacian Id - S is PSD.
"""

from __future__ import annotations

import functools

import flax.struct
import jax
import jax.numpy as jnp

WINDOW = 9  # pixels in a 3x3 window


@flax.struct.dataclass
class MattingAffinity:
    """Per-window statistics of the guide image that define W (windows indexed by their centre pixel).

    Attributes:
      guide: float32 [H, W, 3], the guide image in [0, 1].
      mean: float32 [H, W, 3], window mean colour mu_k.
      inv_cov: float32 [H, W, 3, 3], (Sigma_k + eps / 9 Id)^-1.
      valid: float32 [H, W], 1 where the whole 3x3 window lies inside the image.
      degree: float32 [H, W], d_i = sum_j w_ij (= the number of valid windows that contain pixel i).
    """

    guide: jax.Array
    mean: jax.Array
    inv_cov: jax.Array
    valid: jax.Array
    degree: jax.Array


def box3(x: jax.Array) -> jax.Array:
    """Sum over the 3x3 neighbourhood of every pixel (zeros outside the image); x is [H, W, ...], separable."""
    rows = jnp.pad(x, [(1, 1)] + [(0, 0)] * (x.ndim - 1))
    rows = rows[:-2] + rows[1:-1] + rows[2:]
    cols = jnp.pad(rows, [(0, 0), (1, 1)] + [(0, 0)] * (x.ndim - 2))
    return cols[:, :-2] + cols[:, 1:-1] + cols[:, 2:]


@functools.partial(jax.jit, static_argnames=("eps",))
def matting_affinity(guide: jax.Array, eps: float = 1e-4) -> MattingAffinity:
    """The window statistics of the matting affinity of `guide` (float [H, W, 3] in [0, 1], H, W >= 3)."""
    guide = jnp.asarray(guide, jnp.float32)
    if guide.ndim != 3 or guide.shape[-1] != 3:
        raise ValueError(f"the guide image must have shape [H, W, 3], got {guide.shape}")
    height, width = guide.shape[:2]
    if height < 3 or width < 3:
        raise ValueError(f"the guide image must be at least 3x3 pixels, got {height}x{width}")
    mean = box3(guide) / WINDOW
    second = box3(guide[..., :, None] * guide[..., None, :]) / WINDOW
    cov = second - mean[..., :, None] * mean[..., None, :]
    inv_cov = jnp.linalg.inv(cov + (eps / WINDOW) * jnp.eye(3, dtype=jnp.float32))
    valid = jnp.zeros((height, width), jnp.float32).at[1:-1, 1:-1].set(1.0)
    return MattingAffinity(guide=guide, mean=mean, inv_cov=inv_cov, valid=valid, degree=box3(valid))


@jax.jit
def affinity_matvec(affinity: MattingAffinity, p: jax.Array) -> jax.Array:
    """W p for an image p [H, W, C], without forming W.

    With P_k the window mean of p, Q_k the window mean of I_j p_j^T and v_k = Delta_k (Q_k - mu_k P_k^T):
    (W p)_i = sum over valid windows k containing i of P_k + (I_i - mu_k)^T v_k.
    """
    valid = affinity.valid[..., None]
    window_p = box3(p) / WINDOW  # [H, W, C]
    window_ip = box3(affinity.guide[..., :, None] * p[..., None, :]) / WINDOW  # [H, W, 3, C]
    centred = window_ip - affinity.mean[..., :, None] * window_p[..., None, :]
    v = jnp.einsum("hwab,hwbc->hwac", affinity.inv_cov, centred) * valid[..., None]  # [H, W, 3, C]
    constant = (window_p - jnp.einsum("hwa,hwac->hwc", affinity.mean, v)) * valid  # [H, W, C]
    return box3(constant) + jnp.einsum("hwa,hwac->hwc", affinity.guide, box3(v))


@functools.partial(jax.jit, static_argnames=("beta", "eps", "maxiter", "tol"))
def smooth(
    guide: jax.Array,
    image: jax.Array,
    *,
    beta: float = 0.99,
    eps: float = 1e-4,
    maxiter: int = 200,
    tol: float = 1e-4,
) -> jax.Array:
    """R solving (Id - beta S) R = (1 - beta) Y for Y = `image` [H, W, C], S from the matting affinity of `guide`.

    guide: float [H, W, 3] in [0, 1]; beta in [0, 1): 0 returns Y, values near 1 smooth more (the
    reference's 0.9999 needs many more iterations); eps: matting regulariser; maxiter, tol: CG limits.
    """
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"beta must lie in [0, 1), got {beta}")
    affinity = matting_affinity(guide, eps)
    image = jnp.asarray(image, jnp.float32)
    inv_sqrt_degree = jax.lax.rsqrt(jnp.maximum(affinity.degree, 1.0))[..., None]

    def operator(x: jax.Array) -> jax.Array:
        return x - beta * inv_sqrt_degree * affinity_matvec(affinity, inv_sqrt_degree * x)

    result, _ = jax.scipy.sparse.linalg.cg(operator, (1.0 - beta) * image, x0=image, tol=tol, maxiter=maxiter)
    return result
