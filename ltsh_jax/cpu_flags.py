"""XLA:CPU settings for training the student on CPU, applied through the documented XLA_FLAGS variable.

Measured with `python -m benchmarks.train_step --configs=tiny` on the 2-core build machine (quiet,
interleaved rounds): with jaxlib 0.10 sending convolutions to YNNPACK (its default), the JAX step
took 356 ms (median) against 256 ms for PyTorch channels_last; with YNNPACK convolutions off
(Eigen's convolutions instead; dots stay on YNNPACK) it took 255 ms against 219 ms. The flag names
an xla_cpu_* option, so GPU and TPU compilations ignore it. XLA reads XLA_FLAGS once, when the
first backend starts: call `apply_cpu_xla_flags()` before any JAX computation (binaries, benchmarks).
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
