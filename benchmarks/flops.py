"""FLOPs of the student's training step and forward pass (XLA's cost analysis), per config, for planning runs.

    python -m benchmarks.flops [--configs=paper,tiny]

Prints, per config, the FLOPs of one forward pass of one crop, of one whole training step (forward,
backward, Adam, on-device targets) at the config's batch size, and the step's arithmetic intensity
(FLOPs / bytes accessed). Device time of a run ~ num_steps * step FLOPs / (peak FLOP/s * utilisation).
Nothing is executed: the numbers come from the compiled programs' cost analysis.
"""

from __future__ import annotations

import argparse

import jax
import numpy as np

from benchmarks.train_step import make_batch
from experiments.configs import common
from ltsh_jax.models.openpose import build_model, get_skeleton, init_params
from ltsh_jax.sharding import make_mesh
from ltsh_jax.train import optim
from ltsh_jax.train.step import create_train_state, make_train_step


def shapes(config) -> dict:
    """Abstract batch of the config, in the train step's format (as benchmarks.train_step builds it)."""
    return jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), make_batch(config))


def cost(config) -> dict:
    """XLA's flops and bytes accessed for one forward (one crop) and one train step (whole batch)."""
    skeleton = get_skeleton(config)
    model = build_model(config, skeleton)
    params = jax.eval_shape(lambda: init_params(model, config, jax.random.key(0)))
    s = config.data.input_size
    forward = jax.jit(lambda p, x: model.apply({"params": p}, x)).lower(
        params, jax.ShapeDtypeStruct((1, s, s, 3), np.float32)
    )
    optimizer = optim.make_student_optimizer(config.optim, params)
    state = jax.eval_shape(lambda p: create_train_state(p, optimizer), params)
    step = make_train_step(model, optimizer, config, make_mesh(), skeleton).lower(state, shapes(config))
    f, t = forward.cost_analysis(), step.cost_analysis()
    return {
        "forward_flops": float(f["flops"]),
        "step_flops": float(t["flops"]),
        "step_bytes": float(t.get("bytes accessed", float("nan"))),
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", default="paper,tiny")
    args = parser.parse_args(argv)
    print(f"{'config':8} {'batch':>5} {'size':>5} {'fwd GFLOP/crop':>15} {'step GFLOP':>11} {'FLOP/byte':>10}")
    for name in args.configs.split(","):
        config = common.base_config()
        if name == "tiny":
            common.make_tiny(config)
        elif name != "paper":
            raise SystemExit(f"unknown config {name!r}: paper or tiny")
        c = cost(config)
        print(f"{name:8} {config.train.batch_size:5d} {config.data.input_size:5d} {c['forward_flops'] / 1e9:15.2f} "
              f"{c['step_flops'] / 1e9:11.1f} {c['step_flops'] / c['step_bytes']:10.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
