"""Training-step speed of the JAX OpenPose student against the same network in PyTorch.

What it measures: the wall-clock time of one full training step (forward, backward, Adam update)
on a fixed batch, measured side by side in one process for
  jax           `ltsh_jax.train.step.make_train_step` as it is: the real jitted step, which also
                builds its targets (heatmaps, PAFs, masks) on device from the batch's keypoints;
                On CPU that is config.model.conv_impl 'auto' = 'gemm' (`ltsh_jax.models.conv`);
  jax_xla       the same step with config.model.conv_impl='xla' (plain lax.conv everywhere), to
                show what the CPU convolution forms buy;
  torch         the same network in plain PyTorch (`benchmarks.torch_openpose`), eager, NCHW;
  torch_cl      the same with the model and the input in `torch.channels_last` memory format;
  torch_compile the channels_last model with its forward under `torch.compile` (needs a C++
                compiler; skipped with a message when it fails).
All start from the same initial parameters (the JAX init copied into PyTorch), so their first-step
losses must agree: they are printed as a check that the networks and losses are the same. The
PyTorch steps get their targets as tensors built once by `ltsh_jax.train.targets` (they do slightly less
work than the JAX step, which builds them every step); both normalise the uint8 images in the step.

Configurations (from `experiments/configs/common.base_config()`):
  tiny   width 0.125, 6 stages, 128x128 crops, batch 8
  paper  width 1.0, 6 stages, 368x368 crops, batch 2 on CPU; batch 32 in bfloat16 on GPU/TPU

How to run (from the repository root):
  python -m benchmarks.train_step                                 # tiny and paper (about 15 min)
  python -m benchmarks.train_step --configs=tiny --steps=20 --rounds=5 --output=/tmp/tiny.json
  python -m benchmarks.train_step --configs=paper --impls=jax,jax_xla,torch_cl --tuned_malloc

Timing: each implementation is set up and runs --warmup untimed steps (the first compiles); then
--rounds rounds of --steps timed steps, the implementations' rounds interleaved (jax, jax_xla,
torch, ..., jax, jax_xla, ...) so that load from other processes on a shared machine hits them
alike. Every step is timed on its own and blocks until its results are ready
(`jax.block_until_ready` on the new state and metrics; PyTorch on CPU is synchronous).

How to read the output: per configuration and implementation, the median step time in ms with
the min and the max (the spread shows how noisy the machine was), images/s, achieved model
GFLOP/s (conv FLOPs counted analytically; a training step = 3 x forward), minor page faults per
step (fresh memory the allocator had to fault in), and for the PyTorch rows `t/jax` and
`t/jax_xla` = median PyTorch step time / median JAX step time: above 1 means JAX is faster. On
GPU/TPU only `jax` runs, and its model FLOP utilisation (MFU) against --peak_tflops is printed.

Threads: PyTorch gets `torch.set_num_threads(os.cpu_count())`; XLA's CPU client already runs one
thread per core. `ltsh_jax.cpu_flags.CPU_XLA_FLAGS` is appended to XLA_FLAGS unless
--noxla_cpu_flags: it moves convolutions from YNNPACK to Eigen, which is faster for this network on
this CPU (tiny, quiet machine: 255 vs 356 ms per step). conv_impl='gemm' (`ltsh_jax/models/conv.py`)
replaces the weight-gradient convolution, which XLA:CPU runs on a slow path, by one GEMM. Per-variant research timings:
`benchmarks.jax_variants`. --tuned_malloc re-runs the process with glibc's allocator set to one arena that
keeps freed memory (`ltsh_jax.cpu_flags.TUNED_MALLOC_ENV`); that cuts XLA's page faults (PyTorch has
few either way) and is what `make demo` / `make smoke` train with.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time

CONFIGS = ("tiny", "paper")
IMPLS = ("jax", "jax_xla", "torch", "torch_cl", "torch_compile")
DEFAULT_STEPS = {"tiny": 20, "paper": 2}
DEFAULT_ROUNDS = {"tiny": 3, "paper": 2}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__
    )
    p.add_argument("--configs", default="tiny,paper", help="comma-separated: tiny, paper")
    p.add_argument(
        "--impls",
        default=",".join(IMPLS),
        help="comma-separated subset of " + ",".join(IMPLS) + " (only jax on GPU/TPU)",
    )
    p.add_argument("--steps", type=int, default=None, help="timed steps per round (default: tiny 20, paper 2)")
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default: tiny 3, paper 2)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first (the first one compiles)")
    p.add_argument("--batch_size", type=int, default=None, help="override the batch size of every config")
    p.add_argument(
        "--dtype",
        default=None,
        choices=("float32", "bfloat16"),
        help="JAX compute dtype (default: float32 on CPU; bfloat16 for paper on GPU/TPU)",
    )
    p.add_argument(
        "--tuned_malloc",
        action="store_true",
        help="re-run with ltsh_jax.cpu_flags.TUNED_MALLOC_ENV set (glibc malloc settings)",
    )
    p.add_argument(
        "--noxla_cpu_flags", action="store_true", help="do not append ltsh_jax.cpu_flags.CPU_XLA_FLAGS to XLA_FLAGS"
    )
    p.add_argument("--peak_tflops", type=float, default=989.0, help="device peak for MFU (H100 bf16 dense: 989)")
    p.add_argument("--output", default="", help="also write the results here as JSON")
    return p.parse_args(argv)


# ----------------------------------------------------------------------------------------------
# Configurations and data


def make_config(name: str, accelerator: bool, batch_size: int | None = None, dtype: str | None = None):
    """The benchmark configuration `name` (tiny or paper), built from the paper's base config."""
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
    """A fixed batch of random crops with up to max_people people each, in the train step's format."""
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
    ignore[:, : size // stride // 4, : size // stride // 4] = 1  # one ignored region per crop
    return dict(
        image=rng.integers(0, 256, (b, size, size, 3), dtype=np.uint8),
        people=people,
        ignore_mask=ignore,
        is_synthetic=np.arange(b) >= b // 2,
    )


def model_flops_per_image(config, skeleton) -> float:
    """Forward FLOPs of one crop: 2 * kh * kw * Cin * Cout * H * W summed over the model's convs."""
    import jax

    from ltsh_jax.models.openpose import build_model

    model = build_model(config, skeleton)
    size = config.data.input_size
    shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), jax.numpy.zeros((1, size, size, 3))))["params"]
    total = 0.0
    for path, leaf in jax.tree_util.tree_leaves_with_path(shapes):
        names = [getattr(k, "key", "") for k in path]
        if names[-1] != "kernel":
            continue
        kh, kw, cin, cout = leaf.shape
        # conv1_* at full size, conv2_* at 1/2, conv3_* at 1/4, conv4_* and the stages at 1/8.
        level = int(names[1][4]) - 1 if names[0] == "backbone" else 3
        side = -(-size // 2**level)
        total += 2.0 * kh * kw * cin * cout * side * side
    return total


# ----------------------------------------------------------------------------------------------
# The steps: each maker returns (run one step, loss of the last step, XLA cost-analysis FLOPs).


def config_conv_impl() -> str:
    """What config.model.conv_impl of the base config resolves to on this backend."""
    from experiments.configs.common import base_config
    from ltsh_jax.models.conv import resolve_conv_impl

    return resolve_conv_impl(base_config().model.conv_impl)


def make_jax_runner(config, batch_np, params, skeleton):
    import jax

    from ltsh_jax import sharding
    from ltsh_jax.models.openpose import build_model
    from ltsh_jax.train import optim
    from ltsh_jax.train.step import create_train_state, make_train_step

    mesh = sharding.make_mesh()
    optimizer = optim.make_student_optimizer(config.optim, params)
    state = create_train_state(params, optimizer, mesh=mesh)
    batch = sharding.global_batch(batch_np, mesh)
    model = build_model(config, skeleton)
    step = make_train_step(model, optimizer, config, mesh, skeleton).lower(state, batch).compile()
    holder = {"state": state, "metrics": None}

    def run_one():
        holder["state"], holder["metrics"] = step(holder["state"], batch)
        jax.block_until_ready((holder["state"], holder["metrics"]))

    def cost_flops():
        try:
            cost = step.cost_analysis()
            cost = cost[0] if isinstance(cost, (list, tuple)) else cost
            return float(cost.get("flops", 0.0)) or None
        except Exception:  # noqa: BLE001 - cost analysis is best effort
            return None

    return run_one, lambda: float(holder["metrics"]["loss"]), cost_flops


def make_torch_runner(config, batch_np, impl: str, params, skeleton):
    import jax
    import numpy as np
    import torch

    from benchmarks import torch_openpose
    from ltsh_jax.train.step import batch_targets

    t = jax.device_get(batch_targets(jax.tree_util.tree_map(jax.numpy.asarray, batch_np), config, skeleton))
    memory_format = torch.contiguous_format if impl == "torch" else torch.channels_last

    def nchw(x):
        x = torch.from_numpy(np.ascontiguousarray(np.asarray(x).transpose(0, 3, 1, 2)))
        return x.contiguous(memory_format=memory_format)

    model = torch_openpose.OpenPose(
        skeleton.num_heatmaps, skeleton.num_pafs, config.model.width, config.model.num_stages
    )
    torch_openpose.load_jax_params(model, jax.tree_util.tree_map(np.asarray, params))
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
        holder["loss"] = step(images.float() / 256.0 - 0.5, *targets)

    return run_one, lambda: float(holder["loss"]), lambda: None


# ----------------------------------------------------------------------------------------------
# Timing and report


def time_steps(run_one, n: int) -> tuple[list[float], int]:
    """Per-step wall times of n steps, and the minor page faults they took in all."""
    times, faults = [], resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(n):
        start = time.perf_counter()
        run_one()
        times.append(time.perf_counter() - start)
    return times, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults


def bench_config(name: str, args, accelerator: bool) -> dict:
    import jax

    from ltsh_jax.models.openpose import build_model, get_skeleton, init_params

    config = make_config(name, accelerator, args.batch_size, args.dtype)
    skeleton = get_skeleton(config)
    batch_np = make_batch(config)
    impls = [i for i in args.impls.split(",") if i]
    if accelerator:
        impls = [i for i in impls if i == "jax"]
    steps = args.steps or DEFAULT_STEPS[name]
    rounds = args.rounds or DEFAULT_ROUNDS[name]
    bsz = config.train.batch_size
    flops_fwd = model_flops_per_image(config, skeleton)
    print(
        f"\n== {name}: width {config.model.width}, {config.model.num_stages} stages, "
        f"{config.data.input_size}x{config.data.input_size}, batch {bsz}, JAX dtype {config.model.dtype}; "
        f"model {flops_fwd / 1e9:.2f} GFLOP/image forward",
        flush=True,
    )

    # One set of initial parameters for every implementation: their first losses must agree.
    params = jax.device_get(init_params(build_model(config, skeleton), config, jax.random.key(config.seed)))
    runners, setup_s, first_loss = {}, {}, {}
    for impl in impls:
        start = time.perf_counter()
        try:
            if impl in ("jax", "jax_xla"):
                jax_config = config.copy_and_resolve_references()
                if impl == "jax_xla":
                    jax_config.model.conv_impl = "xla"
                runner = make_jax_runner(jax_config, batch_np, params, skeleton)
            else:
                runner = make_torch_runner(config, batch_np, impl, params, skeleton)
            time_steps(runner[0], 1)
            first_loss[impl] = runner[1]()
            time_steps(runner[0], max(args.warmup - 1, 0))
        except Exception as e:  # noqa: BLE001 - e.g. torch.compile without a working compiler
            print(f"  {impl:14s} skipped: {type(e).__name__}: {str(e).splitlines()[0][:200]}", flush=True)
            continue
        setup_s[impl] = time.perf_counter() - start
        runners[impl] = runner
        print(
            f"  {impl:14s} set-up, compile and {args.warmup} warm-up steps {setup_s[impl]:6.1f} s; "
            f"first-step loss {first_loss[impl]:.6g}",
            flush=True,
        )

    times, faults = {impl: [] for impl in runners}, {impl: 0 for impl in runners}
    for _ in range(rounds):
        for impl, runner in runners.items():
            ts, f = time_steps(runner[0], steps)
            times[impl] += ts
            faults[impl] += f

    train_flops = 3.0 * flops_fwd * bsz
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
    for impl, ts in times.items():
        med = statistics.median(ts)
        r = {
            "first_loss": first_loss[impl],
            "median_s": med,
            "min_s": min(ts),
            "max_s": max(ts),
            "steps": len(ts),
            "setup_s": setup_s[impl],
            "images_per_s": bsz / med,
            "model_gflop_per_s": train_flops / med / 1e9,
            "page_faults_per_step": faults[impl] / len(ts),
            "times_s": ts,
        }
        if impl.startswith("jax"):
            xla = runners[impl][2]()
            if xla:
                r["xla_cost_gflop_per_step"] = xla / 1e9
            if accelerator:
                r["mfu"] = train_flops / med / (args.peak_tflops * 1e12)
        if impl.startswith("torch"):
            for jax_impl in ("jax", "jax_xla"):
                if jax_impl in times:
                    r[f"over_{jax_impl}"] = med / statistics.median(times[jax_impl])
        results["impls"][impl] = r

    print(
        f"  {'impl':14s} {'median ms':>10s} {'min':>9s} {'max':>9s} {'img/s':>7s} {'GFLOP/s':>8s} "
        f"{'faults':>8s} {'t/jax':>6s} {'t/jax_xla':>9s}"
    )
    for impl, r in results["impls"].items():
        r1 = f"{r['over_jax']:6.2f}" if "over_jax" in r else f"{'':6s}"
        r2 = f"{r['over_jax_xla']:9.2f}" if "over_jax_xla" in r else f"{'':9s}"
        print(
            f"  {impl:14s} {r['median_s'] * 1e3:10.1f} {r['min_s'] * 1e3:9.1f} {r['max_s'] * 1e3:9.1f} "
            f"{r['images_per_s']:7.2f} {r['model_gflop_per_s']:8.1f} {r['page_faults_per_step']:8.0f} {r1} {r2}"
        )
    for impl, r in results["impls"].items():
        if "xla_cost_gflop_per_step" in r:
            print(
                f"  {impl}: XLA cost analysis {r['xla_cost_gflop_per_step']:.1f} GFLOP/step "
                f"(analytic, 3 x forward: {train_flops / 1e9:.1f})"
            )
        if "mfu" in r:
            print(
                f"  {impl}: {r['images_per_s']:.1f} images/s, MFU {100 * r['mfu']:.1f}% of "
                f"{args.peak_tflops:g} TFLOP/s (analytic FLOPs)"
            )
    return results


def main(argv=None) -> dict:
    args = parse_args(argv)
    from ltsh_jax.cpu_flags import TUNED_MALLOC_ENV

    if args.tuned_malloc and any(os.environ.get(k) != v for k, v in TUNED_MALLOC_ENV.items()):
        # glibc reads these at start-up only: run again with them set.
        os.execve(
            sys.executable,
            [sys.executable, "-m", "benchmarks.train_step", *sys.argv[1:]],
            {**os.environ, **TUNED_MALLOC_ENV},
        )
    if not args.noxla_cpu_flags:
        from ltsh_jax.cpu_flags import apply_cpu_xla_flags

        apply_cpu_xla_flags()  # before jax starts a backend: XLA reads XLA_FLAGS once
    import flax
    import jax
    import jaxlib
    import optax

    backend = jax.default_backend()
    accelerator = backend in ("gpu", "tpu")
    cores = os.cpu_count() or 1
    versions = {
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "flax": flax.__version__,
        "optax": optax.__version__,
    }
    torch_threads = None
    try:
        import torch

        torch.set_num_threads(cores)
        versions["torch"] = torch.__version__
        torch_threads = torch.get_num_threads()
    except ImportError:
        if not accelerator:
            print("torch is not installed: only the JAX steps run")
    cpu = platform.processor()
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    print(f"backend {backend}; devices {jax.devices()}; CPU {cpu}, {cores} cores; torch threads {torch_threads}")
    print("versions " + " ".join(f"{k} {v}" for k, v in versions.items()))
    print(
        f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}; tuned malloc: {args.tuned_malloc}; "
        f"jax conv_impl: {config_conv_impl()}; load average before starting {os.getloadavg()[0]:.2f}"
    )

    out = {
        "backend": backend,
        "devices": [str(d) for d in jax.devices()],
        "cpu": cpu,
        "cores": cores,
        "versions": versions,
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "args": vars(args),
        "load_average_start": os.getloadavg(),
        "configs": [],
    }
    for name in [c for c in args.configs.split(",") if c]:
        out["configs"].append(bench_config(name, args, accelerator))
    if args.output:
        with open(args.output, "w") as f:
            json.dump(out, f, indent=1)
        print(f"wrote {args.output}")
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
