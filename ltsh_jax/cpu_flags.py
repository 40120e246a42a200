"""XLA:CPU settings for training the student on CPU, applied through the documented XLA_FLAGS variable.

YNNPACK convolutions (jaxlib's default) are turned off: Eigen's are faster for the student on CPU
(dots stay on YNNPACK; the measurement is in WORKSPACE.md, "On a CPU"). The flag names an xla_cpu_*
option, so GPU and TPU compilations ignore it. XLA reads XLA_FLAGS once, when the first
backend starts: call `apply_cpu_xla_flags()` before any JAX computation (binaries, benchmarks).
"""

from __future__ import annotations

import os

# Remove individual convolutions from the YNNPACK fusion types (Eigen runs them instead).
CPU_XLA_FLAGS: tuple[str, ...] = ("--xla_cpu_experimental_ynn_fusion_type=-individual_convolution",)


def apply_cpu_xla_flags(environ: dict | None = None) -> str:
    """Appends CPU_XLA_FLAGS to XLA_FLAGS (keeping any flag the user set by name); returns the result.

    Set LTSH_NO_CPU_XLA_FLAGS=1 to leave XLA_FLAGS alone.
    """
    env = os.environ if environ is None else environ
    current = env.get("XLA_FLAGS", "")
    if env.get("LTSH_NO_CPU_XLA_FLAGS"):
        return current
    names = {f.split("=")[0] for f in current.split()}
    missing = [f for f in CPU_XLA_FLAGS if f.split("=")[0] not in names]
    env["XLA_FLAGS"] = " ".join([current, *missing]).strip()
    return env["XLA_FLAGS"]


# glibc malloc settings for CPU training, read from the environment when a process starts (so they
# are set by whoever starts it: `make demo`/`make smoke`, `python -m ltsh_jax.cpu_flags`, the
# benchmarks' --tuned_malloc). XLA:CPU allocates every step's temporary buffers afresh from its
# worker threads; by default glibc serves them from per-thread arenas and by mmap and hands them
# back when freed, so every step faults the same memory in again: about 17,500 minor page faults
# per tiny training step on the 2-core build machine (PyTorch: under 200). One arena, no per-block
# mmap, no trimming and a heap grown 256 MB at a time bring that to about 1,000 and the tiny step
# from 188 to 172 ms (`python -m benchmarks.train_step --configs=tiny [--tuned_malloc]`, idle).
# The process then keeps its peak memory.
TUNED_MALLOC_ENV: dict[str, str] = {
    "MALLOC_ARENA_MAX": "1",
    "MALLOC_MMAP_MAX_": "0",
    "MALLOC_TRIM_THRESHOLD_": str(64 << 30),
    "MALLOC_TOP_PAD_": str(256 << 20),
}


if __name__ == "__main__":
    # `env $(python -m ltsh_jax.cpu_flags) python -m experiments.train ...`: the settings as KEY=VALUE words.
    print(" ".join(f"{key}={value}" for key, value in TUNED_MALLOC_ENV.items()))
