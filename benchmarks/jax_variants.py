"""Research tool: variants of the JAX train step timed side by side in one process (interleaved rounds).

A variant is a configuration: config knobs (the convolution form, config.model.conv_impl) plus XLA
compiler options (per compilation, so variants that differ in XLA options can share a process). The
library is never patched. Winners of earlier rounds are in the library now (`ltsh_jax/models/conv.py`:
reshape max pool, 1x1 convolutions as dots, the weight-gradient GEMM; frozen layers behind
stop_gradient in `ltsh_jax/train/step.py`), e.g.

  python -m benchmarks.jax_variants --config=tiny --steps=2 --rounds=15 \
      --variants=base,xla_conv=conv_xla,gemm=conv_gemm

an XLA option is written name:value (e.g. a DebugOptions field) after a knob or on its own.

"base" is the library step as configured; every variant's gradients at the initial parameters are
compared with the first variant's, so a variant that changes the numbers shows at once.
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import numpy as np

# Config knobs a variant can name: knob -> (section, field, value).
KNOBS = {
    "conv_xla": ("model", "conv_impl", "xla"),  # plain lax.conv everywhere
    "conv_gemm": ("model", "conv_impl", "gemm"),  # the weight-gradient GEMM and 1x1 dots (the CPU default)
}


def parse_variant(spec: str):
    """'name' or 'name=knob+knob+xla_flag:value+...' -> (name, knobs, compiler options)."""
    name, _, body = spec.partition("=")
    knobs, options = [], {}
    for item in [i for i in (body or name).split("+") if i and i != "base"]:
        if item in KNOBS:
            knobs.append(item)
        elif ":" in item:
            k, v = item.split(":", 1)
            options[k] = {"true": True, "false": False}.get(v, int(v) if v.lstrip("-").isdigit() else v)
        else:
            raise ValueError(f"unknown knob or option {item!r}; knobs: {sorted(KNOBS)}")
    return name, knobs, options


def build(config, batch_np, params, knobs, options, skeleton):
    from ltsh_jax import sharding
    from ltsh_jax.models.openpose import build_model
    from ltsh_jax.train import optim
    from ltsh_jax.train.step import create_train_state, make_loss_fn, make_train_step

    config = config.copy_and_resolve_references()
    for knob in knobs:
        section, field, value = KNOBS[knob]
        config[section][field] = value
    mesh = sharding.make_mesh()
    model = build_model(config, skeleton)
    optimizer = optim.make_student_optimizer(config.optim, params)
    state = create_train_state(params, optimizer, mesh=mesh)
    batch = sharding.global_batch(batch_np, mesh)
    step = make_train_step(model, optimizer, config, mesh, skeleton)
    compiled = step.lower(state, batch).compile(compiler_options=options or None)
    loss_fn = make_loss_fn(model, config, skeleton)
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
    from ltsh_jax.models.openpose import build_model, get_skeleton, init_params

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
    skeleton = get_skeleton(config)
    model = build_model(config, skeleton)
    params = jax.device_get(init_params(model, config, jax.random.key(config.seed)))
    runners, reference = {}, None
    for spec in args.variants.split(","):
        name, knobs, options = parse_variant(spec)
        t = time.perf_counter()
        try:
            run_one, loss, grads = build(config, batch_np, params, knobs, options, skeleton)
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
