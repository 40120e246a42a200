"""Training-step speed of the JAX OpenPose student against the same network in PyTorch.

What it measures: wall-clock time of one full training step (forward, backward, Adam update) on a
fixed batch, for
  jax           `ltsh_jax.train_step.make_train_step`: the real jitted step, which also builds its
                targets (heatmaps, PAFs, masks) on device from the batch's keypoints;
  torch         the same network in plain PyTorch (`benchmarks.torch_openpose`), eager, NCHW;
  torch_cl      the same, with the model and the input in `torch.channels_last` memory format;
  torch_compile the channels_last model under `torch.compile` (optional: needs a C++ compiler).
The PyTorch steps get their targets as precomputed tensors (built once by `ltsh_jax.targets`), so
they do slightly less work than the JAX step. Both normalise uint8 images inside the step.

Configurations (from `experiments/configs/common.base_config()`):
  tiny   width 0.125, 6 stages, 128x128 crops, batch 8 (DESIGN.md: "width/8 model at 128x128")
  paper  width 1.0, 6 stages, 368x368 crops, batch 2 on CPU; batch 32 in bfloat16 on GPU/TPU

How to run (from the repository root):
  python -m benchmarks.train_step                          # tiny and paper, default step counts
  python -m benchmarks.train_step --configs=tiny --steps=30 --rounds=3 --output=/tmp/bench.json

Timing: each implementation first runs --warmup steps (compilation, allocator warm-up), then
--rounds rounds of --steps timed steps; rounds of the implementations are interleaved (jax, torch,
torch_cl, ..., jax, torch, ...) so that load from other processes on a shared machine hits them
alike. Every step is timed on its own and blocks until its results are ready
(`jax.block_until_ready` on the new state and metrics; PyTorch on CPU is synchronous).

How to read the output: per configuration and implementation, the median step time in ms (with
the min and the max, to show the noise), images/s, achieved model GFLOP/s (conv FLOPs of forward
+ backward = 3x forward, counted analytically), and `torch/jax` = median PyTorch step time /
median JAX step time: above 1 means the JAX step is faster. On GPU/TPU only the JAX step runs and
the model FLOP utilisation (MFU) against --peak_tflops is printed as well.

Threads: PyTorch gets `torch.set_num_threads(os.cpu_count())`; XLA's CPU client already uses one
intra-op thread per core. The XLA CPU flags worth setting for training are in `CPU_XLA_FLAGS` and
are applied here unless --noxla_cpu_flags (they must be set before jax is imported; an explicit
XLA_FLAGS in the environment is kept and extended).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

# XLA CPU flags that training should use too (see the module docstring and benchmarks/README).
CPU_XLA_FLAGS: tuple[str, ...] = ()


def _set_xla_flags(extra: tuple[str, ...]) -> None:
    current = os.environ.get("XLA_FLAGS", "")
    missing = [f for f in extra if f.split("=")[0] not in current]
    os.environ["XLA_FLAGS"] = " ".join([current, *missing]).strip()


CONFIGS = ("tiny", "paper")
IMPLS = ("jax", "jax_opt", "torch", "torch_cl", "torch_compile")
DEFAULT_STEPS = {"tiny": 20, "paper": 2}
DEFAULT_ROUNDS = {"tiny": 3, "paper": 2}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--configs", default="tiny,paper", help="comma-separated: tiny, paper")
    p.add_argument(
        "--impls",
        default="jax,jax_opt,torch,torch_cl,torch_compile",
        help="comma-separated subset of " + ",".join(IMPLS) + " (PyTorch ones run on CPU only)",
    )
    p.add_argument("--steps", type=int, default=None, help="timed steps per round (default: tiny 20, paper 2)")
    p.add_argument(
        "--rounds", type=int, default=None, help="interleaved rounds per implementation (default: tiny 3, paper 2)"
    )
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first (the first one compiles)")
    p.add_argument("--batch_size", type=int, default=None, help="override the batch size of every config")
    p.add_argument(
        "--dtype",
        default=None,
        choices=("float32", "bfloat16"),
        help="JAX compute dtype (default float32 on CPU, bfloat16 on GPU/TPU)",
    )
    p.add_argument("--peak_tflops", type=float, default=989.0, help="device peak for MFU (H100 bf16 dense: 989)")
    p.add_argument("--output", default="", help="write the results as JSON here")
    p.add_argument(
        "--opt_patches",
        default="wgrad_gemm7,reshape_pool",
        help="jax_opt = the JAX step with these prototypes from benchmarks.jax_variants patched in",
    )
    p.add_argument("--noxla_cpu_flags", action="store_true", help="do not add CPU_XLA_FLAGS to XLA_FLAGS")
    return p.parse_args(argv)


# ----------------------------------------------------------------------------------------------
# Configurations and data


def make_config(name: str, accelerator: bool, batch_size: int | None, dtype: str | None):
    from experiments.configs.common import base_config

    config = base_config()
    config.model.num_stages = 6
    if name == "tiny":
        config.model.width, config.data.input_size, config.train.batch_size = 0.125, 128, 8
    elif name == "paper":
        config.model.width, config.data.input_size = 1.0, 368
        config.train.batch_size = 32 if accelerator else 2
    else:
        raise ValueError(f"unknown config {name!r}: use one of {CONFIGS}")
    if batch_size:
        config.train.batch_size = batch_size
    config.model.dtype = dtype or ("bfloat16" if accelerator and name == "paper" else "float32")
    return config


def make_batch(config, seed: int = 0) -> dict:
    """A fixed batch of random crops with people (numpy), in the train step's format."""
    import numpy as np

    from ltsh_jax.people import People

    size, stride, b, p = config.data.input_size, config.data.stride, config.train.batch_size, config.data.max_people
    rng = np.random.default_rng(seed)
    people = People(
        keypoints=rng.uniform(0, size, (b, p, 15, 2)).astype(np.float32),
        labelled=rng.uniform(size=(b, p, 15)) < 0.8,
        valid=rng.uniform(size=(b, p)) < 0.7,
        is_synthetic=np.zeros((b, p), bool),
    )
    ignore = np.zeros((b, size // stride, size // stride), np.uint8)
    ignore[:, : size // stride // 4, : size // stride // 4] = 1
    return dict(
        image=rng.integers(0, 256, (b, size, size, 3), dtype=np.uint8),
        people=people,
        ignore_mask=ignore,
        is_synthetic=np.arange(b) >= b // 2,
    )


def model_flops_per_image(config) -> float:
    """Forward FLOPs of one crop: 2 * k*k*cin*cout * h*w summed over every conv of the model."""
    import jax

    from ltsh_jax.train_step import build_model

    model = build_model(config)
    size = config.data.input_size
    shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), jax.numpy.zeros((1, size, size, 3))))["params"]
    total = 0.0
    for path, leaf in jax.tree_util.tree_leaves_with_path(shapes):
        if getattr(path[-1], "key", None) != "kernel":
            continue
        kh, kw, cin, cout = leaf.shape
        names = [getattr(k, "key", "") for k in path]
        # conv1_* at full size, conv2_* at 1/2, conv3_* at 1/4, conv4_* and the stages at 1/8.
        level = int(names[1][4]) - 1 if names[0] == "backbone" else 3
        side = -(-size // 2**level)
        hw = side * side
        total += 2.0 * kh * kw * cin * cout * hw
    return total


# ----------------------------------------------------------------------------------------------
# The JAX step


def make_jax_runner(config, batch_np, params, patches: str = ""):
    import contextlib

    import jax
    import numpy as np

    from ltsh_jax import optim, sharding
    from ltsh_jax.train_step import TrainState, build_model, make_train_step

    mesh = sharding.make_mesh()
    optimizer = optim.make_student_optimizer(config.optim, params)
    state = TrainState(step=np.int32(0), params=params, opt_state=optimizer.init(params))
    state = jax.device_put(state, sharding.replicated(mesh))
    batch = sharding.global_batch(batch_np, mesh)
    with contextlib.ExitStack() as stack:
        if patches:  # prototypes of changes to ltsh_jax, active while the step is traced
            from benchmarks import jax_variants

            for name in patches.split(","):
                stack.enter_context(jax_variants.PATCHES[name]())
        model = build_model(config)
        step = make_train_step(model, optimizer, config, mesh).lower(state, batch).compile()
    holder = {"state": state, "metrics": None}

    def run_one():
        holder["state"], holder["metrics"] = step(holder["state"], batch)
        jax.block_until_ready((holder["state"], holder["metrics"]))

    def check():
        return float(holder["metrics"]["loss"])

    def cost_flops():
        try:
            cost = step.cost_analysis()
            cost = cost[0] if isinstance(cost, (list, tuple)) else cost
            return float(cost.get("flops", 0.0)) or None
        except Exception:  # noqa: BLE001 - cost analysis is best effort
            return None

    return run_one, check, cost_flops


# ----------------------------------------------------------------------------------------------
# The PyTorch steps


def make_torch_runner(config, batch_np, impl: str, jax_params=None):
    import jax
    import numpy as np
    import torch

    from benchmarks import torch_openpose
    from ltsh_jax.train_step import batch_targets, get_skeleton

    skeleton = get_skeleton(config)
    t = jax.device_get(batch_targets(jax.tree_util.tree_map(jax.numpy.asarray, batch_np), config, skeleton))
    memory_format = torch.contiguous_format if impl == "torch" else torch.channels_last

    def nchw(x):
        return torch.from_numpy(np.ascontiguousarray(np.asarray(x).transpose(0, 3, 1, 2))).contiguous(
            memory_format=memory_format
        )

    torch.manual_seed(config.seed)
    model = torch_openpose.OpenPose(
        skeleton.num_heatmaps, skeleton.num_pafs, config.model.width, config.model.num_stages
    )
    if jax_params is not None:
        torch_openpose.load_jax_params(model, jax.tree_util.tree_map(np.asarray, jax_params))
    model = model.to(memory_format=memory_format)
    optimizer = torch.optim.Adam(
        model.parameters(), lr=config.optim.learning_rate, betas=(config.optim.b1, config.optim.b2)
    )
    step = torch_openpose.make_step(model, optimizer)
    if impl == "torch_compile":
        model.forward = torch.compile(model.forward)
    images = nchw(batch_np["image"])
    targets = [nchw(x) for x in (t.heatmaps, t.pafs, t.heatmap_mask, t.paf_mask)]
    holder = {"loss": None}

    def run_one():
        x = images.float() / 256.0 - 0.5
        holder["loss"] = step(x, *targets)

    def check():
        return float(holder["loss"])

    return run_one, check, lambda: None


# ----------------------------------------------------------------------------------------------
# Timing


def time_steps(run_one, n: int) -> list[float]:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        run_one()
        times.append(time.perf_counter() - start)
    return times


def bench_config(name: str, args, accelerator: bool) -> dict:
    import jax

    from ltsh_jax.train_step import build_model, init_params

    config = make_config(name, accelerator, args.batch_size, args.dtype)
    batch_np = make_batch(config)
    impls = [i for i in args.impls.split(",") if i]
    if accelerator:
        impls = [i for i in impls if i.startswith("jax")]
    steps = args.steps or DEFAULT_STEPS[name]
    rounds = args.rounds or DEFAULT_ROUNDS[name]
    bsz = config.train.batch_size
    flops_fwd = model_flops_per_image(config)
    print(
        f"\n== {name}: width {config.model.width}, {config.model.num_stages} stages, "
        f"{config.data.input_size}x{config.data.input_size}, batch {bsz}, JAX dtype {config.model.dtype}; "
        f"model {flops_fwd / 1e9:.2f} GFLOP/image forward",
        flush=True,
    )

    # One set of initial parameters for every implementation: their first losses must agree.
    params = jax.device_get(init_params(build_model(config), config, jax.random.key(config.seed)))
    runners, compile_s, first_loss = {}, {}, {}
    for impl in impls:
        try:
            start = time.perf_counter()
            if impl == "jax":
                runner = make_jax_runner(config, batch_np, params)
            elif impl == "jax_opt":
                runner = make_jax_runner(config, batch_np, params, args.opt_patches)
            else:
                runner = make_torch_runner(config, batch_np, impl, params)
            time_steps(runner[0], 1)
            first_loss[impl] = runner[1]()
            time_steps(runner[0], max(args.warmup - 1, 0))
            compile_s[impl] = time.perf_counter() - start
            runners[impl] = runner
            print(
                f"  {impl:14s} set-up, compile and {args.warmup} warm-up steps: {compile_s[impl]:6.1f} s; "
                f"first-step loss {first_loss[impl]:.6g}",
                flush=True,
            )
        except Exception as e:  # noqa: BLE001 - an optional implementation may be unavailable
            print(f"  {impl:14s} skipped: {type(e).__name__}: {str(e).splitlines()[0][:200]}", flush=True)

    times = {impl: [] for impl in runners}
    for _ in range(rounds):
        for impl, runner in runners.items():
            times[impl] += time_steps(runner[0], steps)

    results = {
        "config": name,
        "batch_size": bsz,
        "input_size": config.data.input_size,
        "width": config.model.width,
        "num_stages": config.model.num_stages,
        "jax_dtype": config.model.dtype,
        "model_gflop_per_image_forward": flops_fwd / 1e9,
        "impls": {},
    }
    train_flops = 3.0 * flops_fwd * bsz
    for impl, ts in times.items():
        med = statistics.median(ts)
        r = {
            "first_loss": first_loss[impl],
            "median_s": med,
            "min_s": min(ts),
            "max_s": max(ts),
            "steps": len(ts),
            "warmup_s": compile_s[impl],
            "images_per_s": bsz / med,
            "model_gflop_per_s": train_flops / med / 1e9,
            "times_s": ts,
        }
        if impl.startswith("jax"):
            xla = runners[impl][2]()
            if xla:
                r["xla_cost_gflop_per_step"] = xla / 1e9
            if accelerator:
                r["mfu"] = train_flops / med / (args.peak_tflops * 1e12)
        results["impls"][impl] = r
    for impl in times:
        for jax_impl in ("jax", "jax_opt"):
            if impl.startswith("torch") and jax_impl in times:
                results["impls"][impl][f"over_{jax_impl}"] = (
                    results["impls"][impl]["median_s"] / results["impls"][jax_impl]["median_s"]
                )

    print(
        f"  {'impl':14s} {'median ms':>10s} {'min':>8s} {'max':>8s} {'img/s':>8s} {'GFLOP/s':>8s} "
        f"{'t/jax':>7s} {'t/jax_opt':>9s}"
    )
    for impl, r in results["impls"].items():
        r1 = f"{r['over_jax']:7.2f}" if "over_jax" in r else f"{'':7s}"
        r2 = f"{r['over_jax_opt']:9.2f}" if "over_jax_opt" in r else f"{'':9s}"
        print(
            f"  {impl:14s} {r['median_s'] * 1e3:10.1f} {r['min_s'] * 1e3:8.1f} {r['max_s'] * 1e3:8.1f} "
            f"{r['images_per_s']:8.2f} {r['model_gflop_per_s']:8.1f} {r1} {r2}"
        )
        if "xla_cost_gflop_per_step" in r:
            print(
                f"  {'':14s} XLA cost analysis: {r['xla_cost_gflop_per_step']:.1f} GFLOP/step "
                f"(analytic 3x forward: {train_flops / 1e9:.1f})"
            )
        if "mfu" in r:
            print(f"  {'':14s} MFU {100 * r['mfu']:.1f}% of {args.peak_tflops:g} TFLOP/s")
    return results


def main(argv=None) -> dict:
    args = parse_args(argv)
    if not args.noxla_cpu_flags:
        _set_xla_flags(CPU_XLA_FLAGS)
    import jax

    backend = jax.default_backend()
    accelerator = backend in ("gpu", "tpu")
    cores = os.cpu_count() or 1
    versions = {"python": platform.python_version(), "jax": jax.__version__}
    try:
        import torch

        torch.set_num_threads(cores)
        versions["torch"] = torch.__version__
        torch_threads = torch.get_num_threads()
    except ImportError:
        torch_threads = None
    import flax
    import jaxlib
    import optax

    versions.update(jaxlib=jaxlib.__version__, flax=flax.__version__, optax=optax.__version__)
    cpu = (
        next(
            (line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
            platform.processor(),
        )
        if os.path.exists("/proc/cpuinfo")
        else platform.processor()
    )
    print(f"backend {backend}; devices {jax.devices()}; CPU {cpu}, {cores} cores; torch threads {torch_threads}")
    print("versions " + " ".join(f"{k} {v}" for k, v in versions.items()))
    print(f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}")

    out = {
        "backend": backend,
        "devices": [str(d) for d in jax.devices()],
        "cpu": cpu,
        "cores": cores,
        "versions": versions,
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "args": vars(args),
        "configs": [],
    }
    for name in [c for c in args.configs.split(",") if c]:
        out["configs"].append(bench_config(name, args, accelerator))
    if args.output:
        with open(args.output, "w") as f:
            json.dump(out, f, indent=1)
        print(f"\nwrote {args.output}")
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
