"""Research tool: variants of the JAX train step timed side by side in one process (interleaved rounds).

Each variant is a set of monkeypatches (active only while the step is traced) plus XLA compiler
options (per compilation, so variants that differ in XLA options can share a process). The winners
of earlier rounds are in the library now (`ltsh_jax/models/conv.py`: reshape max pool, 1x1
convolutions as dots, the weight-gradient GEMM; frozen layers behind stop_gradient in
`ltsh_jax/train/step.py`); the patches here switch them off again or try alternatives, e.g.

  python -m benchmarks.jax_variants --config=tiny --steps=2 --rounds=15 \
      --variants=base,old=window_pool+conv_xla,xla_conv=conv_xla,g_all=gemm_all

"base" is the library step as it is; every variant's gradients at the initial parameters are
compared with the first variant's, so a patch that changes the numbers shows at once.
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


@contextlib.contextmanager
def _patch(obj, name, value):
    old = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, old)


def _window_pool():
    """The pooling the model had before: nn.max_pool (reduce_window; select_and_scatter gradient)."""
    from ltsh_jax.models import openpose

    return _patch(openpose, "max_pool_2x2", lambda x: nn.max_pool(x, (2, 2), strides=(2, 2), padding="SAME"))


def _conv_impl(impl: str):
    """Every convolution of the model computed as conv2d(..., impl), whatever the config says."""
    from ltsh_jax.models import conv, openpose

    return lambda: _patch(openpose, "conv2d", lambda x, kernel, _impl: conv.conv2d(x, kernel, impl))


def _gemm_thresholds(positions: int, channels: int):
    """conv_impl='gemm' with other size thresholds for the k x k weight-gradient GEMM."""
    from ltsh_jax.models import conv

    @contextlib.contextmanager
    def ctx():
        with _patch(conv, "GEMM_MIN_POSITIONS", positions), _patch(conv, "GEMM_MIN_CHANNELS", channels):
            yield

    return ctx


def wgrad_gemm_cmajor(x: jax.Array, dy: jax.Array, k: int) -> jax.Array:
    """`conv.wgrad_gemm` with the shifted input built channel-major ([k Cin, R], stacked along the major
    axis: plain copies) and k GEMMs [k Cin, R] @ [R, Cout], one per kernel row."""
    b, h, w, c = x.shape
    co = dy.shape[-1]
    p = k // 2
    hp, wp = h + 2 * p, w + 2 * p
    n = b * hp * wp
    r = n + (k - 1) * wp
    xt = jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0))).reshape(n, c).T
    xt = jnp.pad(jax.lax.optimization_barrier(xt), ((0, 0), (0, (k - 1) * wp + k - 1)))
    at = jnp.stack([xt[:, j:j + r] for j in range(k)]).reshape(k * c, r)
    dyf = jnp.pad(dy, ((0, 0), (0, 2 * p), (0, 2 * p), (0, 0))).reshape(n, co)
    outs = [at @ jnp.pad(dyf, ((i * wp, (k - 1 - i) * wp), (0, 0))) for i in range(k)]
    return jnp.stack(outs).reshape(k, k, c, co)


def _cmajor():
    from ltsh_jax.models import conv

    return _patch(conv, "wgrad_gemm", wgrad_gemm_cmajor)


PATCHES = {
    # What the library did before this work: nn.max_pool and lax.conv everywhere.
    "window_pool": _window_pool,
    "conv_xla": _conv_impl("xla"),
    # conv_impl='gemm' (the CPU default) and variations of it.
    "conv_gemm": _conv_impl("gemm"),
    "gemm_1x1_only": _gemm_thresholds(1 << 62, 1 << 62),  # only the 1x1 convolutions as dots
    "gemm_all": _gemm_thresholds(0, 0),  # the weight-gradient GEMM for every k x k convolution
    "gemm_cmajor": _cmajor,  # the weight-gradient GEMM built channel-major
    # With --freeze: frozen layers without stop_gradient (any other stop_gradient traced goes too).
    "no_stop_frozen": lambda: _patch(jax.lax, "stop_gradient", lambda x: x),
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
    from ltsh_jax import sharding
    from ltsh_jax.train import optim
    from ltsh_jax.train.step import TrainState, build_model, make_loss_fn, make_train_step

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
    from ltsh_jax.cpu_flags import apply_cpu_xla_flags

    apply_cpu_xla_flags()  # as benchmarks.train_step and the binaries: before the first computation
    from benchmarks import train_step as B
    from ltsh_jax.train.step import build_model, init_params

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
    p.add_argument("--freeze", action="store_true", help="optim.freeze = the first four conv layers")
    args = p.parse_args(argv)
    config = B.make_config(args.config, False, args.batch_size, args.dtype)
    for key, value in (("width", args.width), ("num_stages", args.num_stages)):
        if value is not None:
            config.model[key] = value
    if args.input_size:
        config.data.input_size = args.input_size
    if args.freeze:
        from experiments.configs.common import FREEZE_FIRST_FOUR

        config.optim.freeze = FREEZE_FIRST_FOUR
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
            times[n] += B.time_steps(r, args.steps)[0]
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
