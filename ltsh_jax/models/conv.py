"""Stride-1 'SAME' convolutions and 2x2 max pooling for the OpenPose student, with CPU-friendly gradients.

Why: on XLA:CPU the forward and input-gradient convolutions run through YNNPACK, but the weight
gradient of a k x k convolution becomes a convolution whose window is the whole feature map, which
XLA:CPU runs on a slow generic path, and `reduce_window` max pooling differentiates through
`select_and_scatter`. The functions here compute exactly the same numbers (up to float rounding)
in forms XLA:CPU runs well:

- `conv2d(..., impl="gemm")`: 1x1 convolutions are plain dots over the channel axis (forward and
  both gradients are GEMMs); k x k convolutions on large maps keep XLA's forward and input gradient
  but take their weight gradient from one GEMM over shifted copies of the input (`wgrad_gemm`).
- `max_pool_2x2`: 2x2 / stride-2 'SAME' pooling as reshape + max, whose gradient is elementwise.

`impl="xla"` is plain `lax.conv_general_dilated` everywhere (the choice for GPU and TPU, where
cuDNN / the TPU compiler handle all three convolutions well). Measurements: benchmarks/train_step.py
and benchmarks/jax_variants.py.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

CONV_IMPLS = ("xla", "gemm")
_DN = ("NHWC", "HWIO", "NHWC")
# `impl="gemm"` takes a k x k weight gradient from `wgrad_gemm` only on maps with at least this
# many positions (batch x height x width) and at least this many input and output channels;
# smaller convolutions keep XLA's own weight gradient (measured: no gain there, the copies dominate).
GEMM_MIN_POSITIONS = 4096
GEMM_MIN_CHANNELS = 64


def resolve_conv_impl(impl: str) -> str:
    """'auto' -> 'gemm' on the CPU backend, 'xla' elsewhere; other names are checked and returned."""
    if impl == "auto":
        return "gemm" if jax.default_backend() == "cpu" else "xla"
    if impl not in CONV_IMPLS:
        raise ValueError(f"conv_impl={impl!r} is not one of {['auto', *CONV_IMPLS]}")
    return impl


def max_pool_2x2(x: jax.Array) -> jax.Array:
    """2x2 / stride-2 'SAME' (ceil) max pooling of [B, H, W, C] as reshape + max."""
    b, h, w, c = x.shape
    ph, pw = h % 2, w % 2
    if ph or pw:
        x = jnp.pad(x, ((0, 0), (0, ph), (0, pw), (0, 0)), constant_values=-jnp.inf)
    return x.reshape(b, (h + ph) // 2, 2, (w + pw) // 2, 2, c).max(axis=(2, 4))


def xla_conv(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """Stride-1 'SAME' convolution of NHWC x with an HWIO kernel of odd size (lax.conv)."""
    k = kernel.shape[0]
    return jax.lax.conv_general_dilated(x, kernel, (1, 1), [(k // 2, k // 2)] * 2, dimension_numbers=_DN)


def wgrad_gemm(x: jax.Array, dy: jax.Array, k: int) -> jax.Array:
    """The kernel gradient [k, k, Cin, Cout] of a stride-1 'SAME' k x k convolution (odd k) as one GEMM.

    Flatten the zero-padded input to rows of width Wp = W + 2p (p = k // 2) and lay dy on the same
    padded grid (zeros outside the image): the input that kernel offset (i, j) sees at flat
    position q is xf[q + i Wp + j]. With r = q + i Wp, dW[i, j] = sum_r xf[r + j]^T dyf[r - i Wp];
    so A = [xf shifted by j, j < k] ([R, k Cin]) and B = [dyf delayed by i Wp, i < k] ([R, k Cout])
    give every (j, i) block in A^T B. That is 2k copies of the map instead of XLA:CPU's
    map-sized-window convolution. Accumulates in float32.
    """
    b, h, w, c = x.shape
    co = dy.shape[-1]
    p = k // 2
    hp, wp = h + 2 * p, w + 2 * p
    n = b * hp * wp
    r = n + (k - 1) * wp
    xf = jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0))).reshape(n, c)
    xf = jnp.pad(xf, ((0, (k - 1) * wp + k - 1), (0, 0)))
    a = jnp.concatenate([xf[j : j + r] for j in range(k)], axis=1)
    dyf = jnp.pad(dy, ((0, 0), (0, 2 * p), (0, 2 * p), (0, 0))).reshape(n, co)
    bm = jnp.concatenate([jnp.pad(dyf, ((i * wp, (k - 1 - i) * wp), (0, 0))) for i in range(k)], axis=1)
    g = jax.lax.dot_general(a, bm, (((0,), (0,)), ((), ())), preferred_element_type=jnp.float32)
    return g.reshape(k, c, k, co).transpose(2, 0, 1, 3)


@jax.custom_vjp
def _conv_gemm_wgrad(x: jax.Array, kernel: jax.Array) -> jax.Array:
    return xla_conv(x, kernel)


def _conv_gemm_wgrad_fwd(x, kernel):
    return xla_conv(x, kernel), (x, kernel)


def _conv_gemm_wgrad_bwd(res, dy):
    x, kernel = res
    _, vjp_x = jax.vjp(lambda x_: xla_conv(x_, kernel), x)
    (dx,) = vjp_x(dy)
    return dx, wgrad_gemm(x, dy, kernel.shape[0]).astype(kernel.dtype)


_conv_gemm_wgrad.defvjp(_conv_gemm_wgrad_fwd, _conv_gemm_wgrad_bwd)


def conv2d(x: jax.Array, kernel: jax.Array, impl: str = "xla") -> jax.Array:
    """Stride-1 'SAME' convolution, NHWC x and HWIO kernel (odd square size), computed as `impl` says."""
    k, k2, cin, cout = kernel.shape
    if k != k2 or k % 2 != 1:
        raise ValueError(f"conv2d needs an odd square kernel, got {kernel.shape}")
    if x.shape[-1] != cin:
        raise ValueError(f"input has {x.shape[-1]} channels, kernel expects {cin}")
    if impl == "xla":
        return xla_conv(x, kernel)
    if impl != "gemm":
        raise ValueError(f"conv impl {impl!r} is not one of {CONV_IMPLS}")
    if k == 1:
        return jax.lax.dot_general(x, kernel[0, 0], (((3,), (0,)), ((), ())))
    positions = x.shape[0] * x.shape[1] * x.shape[2]
    if positions >= GEMM_MIN_POSITIONS and min(cin, cout) >= GEMM_MIN_CHANNELS:
        return _conv_gemm_wgrad(x, kernel)
    return xla_conv(x, kernel)
