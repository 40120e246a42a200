"""Prototypes of speed-ups for the JAX train step, measured side by side in one process.

Each variant is a set of monkeypatches (active only while the step is traced) plus XLA compiler
options (per compilation, so variants that differ in XLA options can share a process). Used by
`python -m benchmarks.jax_variants --variants=base,reshape_pool,...`; nothing here is used in
training: the winners are described as changes to `ltsh_jax/`.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


def max_pool_2x2(x: jax.Array) -> jax.Array:
    """2x2 / stride 2 'SAME' max pool as reshape + max (its gradient is elementwise, no scatter)."""
    b, h, w, c = x.shape
    ph, pw = h % 2, w % 2
    if ph or pw:
        x = jnp.pad(x, ((0, 0), (0, ph), (0, pw), (0, 0)), constant_values=-jnp.inf)
    return x.reshape(b, (h + ph) // 2, 2, (w + pw) // 2, 2, c).max(axis=(2, 4))


@contextlib.contextmanager
def _patch(obj, name, value):
    old = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, old)


def _reshape_pool():
    orig = nn.max_pool

    def pool(x, window_shape, strides=None, padding="VALID"):
        if tuple(window_shape) == (2, 2) and tuple(strides or ()) == (2, 2) and x.ndim == 4:
            return max_pool_2x2(x)
        return orig(x, window_shape, strides=strides, padding=padding)

    return _patch(nn, "max_pool", pool)


# ----------------------------------------------------------------------------------------------
# Convolutions with a hand-written weight gradient (XLA CPU's own is slow on large maps).

_DN = ("NHWC", "HWIO", "NHWC")


def _conv(x, w):
    k = w.shape[0]
    return jax.lax.conv_general_dilated(x, w, (1, 1), [(k // 2, k // 2)] * 2, dimension_numbers=_DN)


def wgrad_dot_1x1(x: jax.Array, dy: jax.Array) -> jax.Array:
    """dW [1, 1, Cin, Cout] of a 1x1 conv: one GEMM x^T dy over all positions."""
    c = x.shape[-1]
    dw = jax.lax.dot_general(x.reshape(-1, c), dy.reshape(-1, dy.shape[-1]), (((0,), (0,)), ((), ())))
    return dw.reshape(1, 1, c, -1)


def wgrad_gemm(x: jax.Array, dy: jax.Array, k: int) -> jax.Array:
    """dW [k, k, Cin, Cout] of a stride-1 'SAME' k x k conv (odd k) as one GEMM.

    Flatten the zero-padded input map to rows of width Wp = W + 2p (p = k // 2) and lay dy out on
    the same padded grid (zeros outside the image): the input seen by kernel offset (i, j) at
    position q is then xf[q + i * Wp + j]. Substituting r = q + i * Wp,
        dW[i, j] = sum_r xf[r + j]^T dyf[r - i * Wp],
    so with A = [xf shifted by j, for j < k] (channels concatenated, [R, k Cin]) and
    B = [dyf delayed by i * Wp, for i < k] ([R, k Cout]), A^T B holds every (j, i) block at once.
    Costs 2 k copies of the map instead of XLA's map-sized-window convolution.
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
    g = jax.lax.dot_general(a, bm, (((0,), (0,)), ((), ())))  # [(j, Cin), (i, Cout)]
    return g.reshape(k, c, k, co).transpose(2, 0, 1, 3)


def make_conv(
    one_by_one_dot: bool = True,
    gemm_min_positions: int | None = 4096,
    gemm_min_channels: int = 64,
    gemm_max_kernel: int = 3,
):
    """conv(x, w) (stride 1, 'SAME', NHWC/HWIO) with a custom weight gradient where it is faster on CPU.

    1x1 kernels: one GEMM. k x k kernels (k <= gemm_max_kernel) on maps with >= gemm_min_positions
    positions (batch x height x width) and >= gemm_min_channels input and output channels: one
    GEMM over shifted copies (`wgrad_gemm`). Everything else: XLA's own gradient.
    """

    @jax.custom_vjp
    def conv(x, w):
        return _conv(x, w)

    def fwd(x, w):
        return _conv(x, w), (x, w)

    def bwd(res, dy):
        x, w = res
        k = w.shape[0]
        _, vjp_x = jax.vjp(lambda x_: _conv(x_, w), x)
        (dx,) = vjp_x(dy)
        positions = x.shape[0] * x.shape[1] * x.shape[2]
        if k == 1 and one_by_one_dot:
            dw = wgrad_dot_1x1(x, dy)
        elif (
            gemm_min_positions is not None
            and k <= gemm_max_kernel
            and positions >= gemm_min_positions
            and min(w.shape[2], w.shape[3]) >= gemm_min_channels
        ):
            dw = wgrad_gemm(x, dy, k)
        else:
            _, vjp_w = jax.vjp(lambda w_: _conv(x, w_), w)
            (dw,) = vjp_w(dy)
        return dx, dw.astype(w.dtype)

    conv.defvjp(fwd, bwd)
    return conv


def _conv_patch(conv_fn):
    class Conv(nn.Conv):
        @nn.compact
        def __call__(self, x):
            kh, kw = self.kernel_size
            kernel = self.param("kernel", self.kernel_init, (kh, kw, x.shape[-1], self.features), self.param_dtype)
            bias = self.param("bias", self.bias_init, (self.features,), self.param_dtype)
            dtype = self.dtype or x.dtype
            y = conv_fn(x.astype(dtype), kernel.astype(dtype))
            return y + bias.astype(dtype)

    return lambda: _patch(nn, "Conv", Conv)


# ----------------------------------------------------------------------------------------------
# Both branches' first conv of a stage as one conv (same input): half the ops, wider GEMMs.


class _ConvParams(nn.Module):
    features: int
    kernel_size: int

    @nn.compact
    def __call__(self, cin):
        k = self.kernel_size
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (k, k, cin, self.features), jnp.float32)
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,), jnp.float32)
        return kernel, bias


class _BranchParams(nn.Module):
    hidden: tuple
    out_channels: int
    width: float

    @nn.compact
    def __call__(self, cin):
        from ltsh_jax.models.openpose import scaled

        layers = [(k, scaled(c, self.width)) for k, c in self.hidden] + [(1, self.out_channels)]
        out = []
        for i, (k, c) in enumerate(layers, start=1):
            out.append(_ConvParams(c, k, name=f"conv{i}")(cin))
            cin = c
        return out


def _merged_stage(conv_fn):
    from ltsh_jax.models import openpose

    class Stage(nn.Module):
        hidden: tuple
        num_pafs: int
        num_heatmaps: int
        width: float = 1.0
        dtype: object = jnp.float32

        @nn.compact
        def __call__(self, x):
            cin = x.shape[-1]
            p1 = _BranchParams(tuple(self.hidden), self.num_pafs, self.width, name="L1")(cin)
            p2 = _BranchParams(tuple(self.hidden), self.num_heatmaps, self.width, name="L2")(cin)
            cast = lambda a: a.astype(self.dtype)  # noqa: E731
            (k1, b1), (k2, b2) = p1[0], p2[0]
            y = nn.relu(conv_fn(cast(x), cast(jnp.concatenate([k1, k2], -1))) + cast(jnp.concatenate([b1, b2])))
            h1, h2 = y[..., : k1.shape[-1]], y[..., k1.shape[-1] :]
            outs = []
            for h, ps in ((h1, p1), (h2, p2)):
                for i, (k, b) in enumerate(ps[1:], start=2):
                    h = conv_fn(h, cast(k)) + cast(b)
                    if i < len(ps):
                        h = nn.relu(h)
                outs.append(h)
            return outs[0], outs[1]

    return lambda: _patch(openpose, "Stage", Stage)


PATCHES = {
    "reshape_pool": _reshape_pool,
    # custom_vjp plumbing only (XLA's own gradients): must time like base.
    "conv_custom_xla": _conv_patch(make_conv(one_by_one_dot=False, gemm_min_positions=None)),
    "wgrad_1x1": _conv_patch(make_conv(gemm_min_positions=None)),
    "wgrad_gemm3": _conv_patch(make_conv()),  # 1x1 + 3x3 on big maps
    "wgrad_gemm7": _conv_patch(make_conv(gemm_max_kernel=7)),  # + 7x7 on big maps
    "wgrad_gemm_all": _conv_patch(make_conv(gemm_min_positions=0, gemm_min_channels=0, gemm_max_kernel=7)),
    "merged_stage": _merged_stage(_conv),
    "merged_stage_gemm7": _merged_stage(make_conv(gemm_max_kernel=7)),
}


def parse_variant(spec: str):
    """'name' or 'name=patch+patch+xla_flag:value+...' -> (name, patches, compiler options)."""
    name, _, body = spec.partition("=")
    patches, options = [], {}
    for item in [i for i in (body or name).split("+") if i and i != "base"]:
        if item in PATCHES:
            patches.append(item)
        elif ":" in item:
            k, v = item.split(":", 1)
            options[k] = {"true": True, "false": False}.get(v, int(v) if v.lstrip("-").isdigit() else v)
        else:
            raise ValueError(f"unknown patch or option {item!r}")
    return name, patches, options


def build(config, batch_np, params, patches, options):
    from ltsh_jax import optim, sharding
    from ltsh_jax.train_step import TrainState, build_model, make_loss_fn, make_train_step

    mesh = sharding.make_mesh()
    with contextlib.ExitStack() as stack:
        for p in patches:
            stack.enter_context(PATCHES[p]())
        model = build_model(config)
        optimizer = optim.make_student_optimizer(config.optim, params)
        state = TrainState(step=np.int32(0), params=params, opt_state=optimizer.init(params))
        state = jax.device_put(state, sharding.replicated(mesh))
        batch = sharding.global_batch(batch_np, mesh)
        step = make_train_step(model, optimizer, config, mesh)
        compiled = step.lower(state, batch).compile(compiler_options=options or None)
        loss_fn = make_loss_fn(model, config)
        grads = jax.jit(jax.grad(lambda p, b: loss_fn(p, b)[0])).lower(params, batch).compile()(params, batch)
    holder = {"state": state}

    def run_one():
        holder["state"], metrics = compiled(holder["state"], batch)
        jax.block_until_ready((holder["state"], metrics))
        holder["metrics"] = metrics

    return run_one, lambda: float(holder["metrics"]["loss"]), jax.device_get(grads)


def main(argv=None):
    from benchmarks import train_step as B
    from ltsh_jax.train_step import build_model, init_params

    p = argparse.ArgumentParser()
    p.add_argument("--config", default="tiny")
    p.add_argument("--variants", default="base")
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--batch_size", type=int, default=None)
    p.add_argument("--dtype", default=None)
    p.add_argument("--width", type=float, default=None)
    p.add_argument("--input_size", type=int, default=None)
    p.add_argument("--num_stages", type=int, default=None)
    args = p.parse_args(argv)
    config = B.make_config(args.config, False, args.batch_size, args.dtype)
    for key, value in (("width", args.width), ("num_stages", args.num_stages)):
        if value is not None:
            config.model[key] = value
    if args.input_size:
        config.data.input_size = args.input_size
    batch_np = B.make_batch(config)
    params = jax.device_get(init_params(build_model(config), config, jax.random.key(config.seed)))
    runners, reference = {}, None
    for spec in args.variants.split(","):
        name, patches, options = parse_variant(spec)
        t = time.perf_counter()
        try:
            run_one, loss, grads = build(config, batch_np, params, patches, options)
        except Exception as e:  # noqa: BLE001 - report and go on with the other variants
            print(f"{name:24s} failed: {str(e).splitlines()[0][:200]}", flush=True)
            continue
        run_one()
        first = loss()
        run_one()
        # Gradients at the initial parameters against the first variant's, per leaf relative to its max.
        reference = reference if runners else grads
        diff = max(
            float(np.abs(g - r).max() / (np.abs(r).max() + 1e-30))
            for g, r in zip(jax.tree_util.tree_leaves(grads), jax.tree_util.tree_leaves(reference), strict=False)
        )
        runners[name] = run_one
        print(
            f"{name:24s} compile+2 steps {time.perf_counter() - t:5.1f} s, first loss {first:.6g}, "
            f"grads vs first variant: max over leaves of max|diff|/max|grad| = {diff:.1e}",
            flush=True,
        )
    times = {n: [] for n in runners}
    for _ in range(args.rounds):
        for n, r in runners.items():
            times[n] += B.time_steps(r, args.steps)
    base = statistics.median(next(iter(times.values())))
    base_min = min(next(iter(times.values())))
    for n, ts in times.items():
        med = statistics.median(ts)
        q = np.percentile(ts, [25, 75])
        print(
            f"{n:24s} median {med * 1e3:8.1f} ms  IQR {q[0] * 1e3:7.1f}-{q[1] * 1e3:7.1f}  min {min(ts) * 1e3:8.1f}  "
            f"median vs first {med / base:5.3f}  min vs first {min(ts) / base_min:5.3f}"
        )


if __name__ == "__main__":
    main()
