"""The teacher's share of training time at paper size: one teacher step against N student steps.

What it measures, side by side in one process (rounds interleaved: student, teacher, block, student, ...):
  student  one paper-size OpenPose training step (`benchmarks.train_step.make_jax_runner`: the real
           jitted step, width 1, 6 stages, 368x368) on a fixed batch of --batch crops;
  teacher  one `ltsh_jax.teacher.hook` block step at paper size (the reference architecture, 368x368
           input, --num_groups groups, --hardest_k crops): the KL gradient on the crop behind the
           last choice, the reward-sign transform + Adam update, the forward on the new hardest
           crop(s) and the group draw; it runs once every N student steps;
  block    the hook's per-student-step work (`ltsh_jax.teacher.hook.add_step`, jitted over a mesh of
           every device: adding the step's synthetic loss, keeping the k hardest real crops) for
           --block_batch crops, half real.
Every timed call blocks until its results are ready. Reported: medians (min, max) in ms and
  overhead = (teacher + N * block) / (N * student)
the fraction added to the student's time by the teacher (target: < 5 % at N = 20).

On this 2-core CPU a paper-size student step takes ~11 s at batch 2, so the default measures batch
2 with a few rounds. The paper trains with batch 32: its student step is ~16x longer, while the
teacher's step does not depend on the student's batch, so the batch-2 overhead is an upper bound of
the batch-32 one (pass --batch=32 on an accelerator).

    python -m benchmarks.teacher                       # paper size, batch 2, 3 rounds (~5 min on CPU)
    python -m benchmarks.teacher --size=tiny --rounds=5 --output=/tmp/teacher.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", choices=("paper", "tiny"), default="paper")
    parser.add_argument("--batch", type=int, default=0, help="student batch (default 2 on CPU, 32 elsewhere)")
    parser.add_argument("--every_n", type=int, default=20)
    parser.add_argument("--num_groups", type=int, default=10)
    parser.add_argument("--hardest_k", type=int, default=1)
    parser.add_argument("--block_batch", type=int, default=32, help="crops per step in the block-work timing")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--output", default="", help="write the results as JSON here")
    return parser.parse_args(argv)


def _random_params(shapes, seed: int):
    """Small random parameters of the given shapes (no init graph to compile)."""
    rng = np.random.default_rng(seed)
    return jax.tree_util.tree_map(lambda s: jnp.asarray(rng.normal(0, 0.02, s.shape), s.dtype), shapes)


def make_student(size: str, batch: int, accelerator: bool):
    """(run one student step, config)."""
    from benchmarks import train_step as bench
    from ltsh_jax.models.openpose import build_model, get_skeleton

    config = bench.make_config(size, accelerator, batch_size=batch)
    skeleton = get_skeleton(config)
    model = build_model(config, skeleton)
    s = config.data.input_size
    shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, s, s, 3))))["params"]
    run_one, _, _ = bench.make_jax_runner(config, bench.make_batch(config), _random_params(shapes, 0), skeleton)
    return run_one, config


def make_teacher(crop: int, input_size: int, width: float, num_groups: int, k: int):
    """Runs one teacher block step (on a mesh of every device)."""
    from ltsh_jax import sharding
    from ltsh_jax.models.teacher import Teacher, init_teacher_params
    from ltsh_jax.teacher import hook
    from ltsh_jax.teacher import update as teacher_lib

    cfg = ml_collections.ConfigDict(dict(input_size=input_size, alpha=0.01, eps=0.1))
    model = Teacher(num_groups, width=width)
    optimizer = teacher_lib.teacher_optimizer(1e-4, 10)
    mesh = sharding.make_mesh()
    block_step = hook.make_block_step(model, optimizer, np.ones(num_groups, bool), cfg, mesh)
    params = init_teacher_params(model, input_size, 0)
    crops = np.random.default_rng(1).integers(0, 256, (k, crop, crop, 3), dtype=np.uint8)
    state = hook.TeacherState(params=params, opt_state=optimizer.init(params), rng=jax.random.PRNGKey(0),
                              group=jnp.int32(0), inputs=jnp.asarray(crops))  # fmt: skip
    # On the mesh like the hook's (an off-mesh first state would make the second call compile again).
    holder = {"state": jax.device_put(state, sharding.replicated(mesh)), "loss": 1.0}

    def run_one():
        holder["loss"] = 2.0 - holder["loss"] * 0.9  # alternate above / below the history: both signs run
        holder["state"], info = block_step(holder["state"], np.float32(holder["loss"]), jnp.asarray(crops))
        jax.block_until_ready((holder["state"], info))

    return run_one


def make_block_work(crop: int, batch: int, k: int):
    """One step of the hook's block bookkeeping (`add_step` on a global batch of `batch` crops)."""
    from ltsh_jax import sharding
    from ltsh_jax.teacher import hook

    mesh = sharding.make_mesh()
    add_step = hook.make_add_step(mesh)
    holder = {"block": jax.device_put(hook.empty_block(k, crop), sharding.replicated(mesh))}
    rng = np.random.default_rng(2)
    local = {
        "image": rng.integers(0, 256, (batch, crop, crop, 3), dtype=np.uint8),
        "is_synthetic": np.arange(batch) % 2 == 1,
    }
    global_batch = sharding.global_batch(local, mesh)
    losses = jax.device_put(rng.uniform(size=batch).astype(np.float32), sharding.replicated(mesh))

    def run_one():
        holder["block"] = add_step(holder["block"], global_batch["image"], global_batch["is_synthetic"], losses,
                                   np.float32(1.0), np.int32(0))  # fmt: skip
        jax.block_until_ready(holder["block"])

    return run_one


def _timed(run_one) -> float:
    start = time.perf_counter()
    run_one()
    return time.perf_counter() - start


def main(argv=None) -> dict:
    """Runs the benchmark and prints (and optionally writes) the medians and the overhead."""
    args = parse_args(argv)
    accelerator = jax.default_backend() != "cpu"
    batch = args.batch or (32 if accelerator else 2)
    paper = args.size == "paper"
    crop = 368 if paper else 128
    print(f"backend {jax.default_backend()}, {jax.device_count()} device(s); size {args.size}, student batch {batch}")
    student, config = make_student(args.size, batch, accelerator)
    teacher = make_teacher(crop, crop if paper else 64, 1.0 if paper else 0.125, args.num_groups, args.hardest_k)
    block = make_block_work(crop, args.block_batch, args.hardest_k)
    runners = {"student": student, "teacher": teacher, "block": block}
    for name, run_one in runners.items():
        start = time.perf_counter()
        for _ in range(args.warmup):
            run_one()
        print(f"  {name}: warm-up (compile) {time.perf_counter() - start:.1f} s")
    times: dict[str, list[float]] = {name: [] for name in runners}
    for r in range(args.rounds):
        for name, run_one in runners.items():
            times[name].append(_timed(run_one))
        print(f"  round {r + 1}: " + ", ".join(f"{n} {times[n][-1] * 1e3:.1f} ms" for n in runners))
    med = {name: statistics.median(t) for name, t in times.items()}
    n = args.every_n
    overhead = (med["teacher"] + n * med["block"]) / (n * med["student"])
    result = {
        "size": args.size, "backend": jax.default_backend(), "student_batch": batch, "every_n": n,
        "num_groups": args.num_groups, "hardest_k": args.hardest_k, "rounds": args.rounds,
        "median_ms": {k: v * 1e3 for k, v in med.items()},
        "min_ms": {k: min(v) * 1e3 for k, v in times.items()}, "max_ms": {k: max(v) * 1e3 for k, v in times.items()},
        "teacher_over_one_student_step": med["teacher"] / med["student"],
        "overhead": overhead,
    }  # fmt: skip
    for name in runners:
        print(f"{name:8s} median {med[name] * 1e3:10.1f} ms  (min {min(times[name]) * 1e3:.1f}, "
              f"max {max(times[name]) * 1e3:.1f})")  # fmt: skip
    print(f"teacher step / student step = {result['teacher_over_one_student_step']:.3f}; "
          f"overhead at N = {n}: (teacher + N block) / (N student) = {overhead * 100:.2f} %")  # fmt: skip
    if args.output:
        with open(args.output, "w") as f:
            json.dump(result, f, indent=2)
    del config
    return result


if __name__ == "__main__":
    main()
