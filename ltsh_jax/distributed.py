"""Connecting the processes of a multi-host run, and checking that they agree before any work.

Every process of a run (a TPU pod's hosts, GPU nodes, or several processes on one machine) runs the same
command; `initialize` connects them through jax.distributed (explicitly with a coordinator address,
process count and id, or auto-detected on TPU pods and SLURM), CPU collectives over gloo. The training
batch is split by the mesh's sharding (ltsh_jax/sharding.py), and process 0 alone writes logs, metrics,
plots and JSON files (`is_chief`).
"""

from __future__ import annotations

import hashlib
import json

import jax
import numpy as np
from absl import logging
from jax.experimental import multihost_utils

# Seconds without a heartbeat after which the coordinator declares a process dead and stops the others.
DEFAULT_HEARTBEAT_TIMEOUT_S = 30


class MultiHostError(RuntimeError):
    """The processes of a run disagree (config, workdir, a choice that must be the same everywhere)."""


def initialize(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    *,
    auto: bool = False,
    heartbeat_timeout_s: int = DEFAULT_HEARTBEAT_TIMEOUT_S,
) -> bool:
    """Connects this process to the others; returns whether it did (False: a single-process run).

    Explicit: all of coordinator_address ('host:port' of process 0), num_processes and process_id.
    auto: none of them given, the cluster (TPU pod, SLURM, ...) is detected by jax.distributed.
    """
    given = {"coordinator_address": coordinator_address, "num_processes": num_processes, "process_id": process_id}
    if any(v is not None for v in given.values()) and any(v is None for v in given.values()):
        missing = ", ".join(f"--{k}" for k, v in given.items() if v is None)
        raise ValueError(f"--coordinator_address, --num_processes and --process_id go together: {missing} missing")
    if coordinator_address is None and not auto:
        return False
    if num_processes is not None and not 0 <= process_id < num_processes:
        raise ValueError(f"--process_id={process_id} must be in [0, --num_processes={num_processes})")
    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU devices of several processes
    jax.distributed.initialize(
        coordinator_address, num_processes, process_id, heartbeat_timeout_seconds=int(heartbeat_timeout_s)
    )
    _no_persistent_cache_on_cpu()
    return True


def _no_persistent_cache_on_cpu() -> None:
    """Switches the persistent compilation cache off in a multi-process CPU run. Only process 0 writes cache
    entries, so on a rerun process 0 loads its programs while the others compile theirs; the others reach
    the first collective minutes later and gloo gives a collective's set-up 30 s (jax 0.10.2: "Gloo context
    initialization failed ... GetKeyValue() timed out", then the run aborts). Seen with 2 processes here."""
    if jax.process_count() > 1 and jax.devices()[0].platform == "cpu" and jax.config.jax_compilation_cache_dir:
        logging.warning("multi-process CPU run: the persistent compilation cache is off (gloo's 30 s set-up)")
        jax.config.update("jax_enable_compilation_cache", False)


def is_chief() -> bool:
    """Whether this process writes the run's logs, metrics, plots and JSON files (process 0)."""
    return jax.process_index() == 0


def fingerprint(value) -> np.ndarray:
    """A JSON-able value as 8 int32 words of its SHA-256 (sorted keys), to compare across processes."""
    digest = hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).digest()
    return np.frombuffer(digest, np.int32).copy()


def check_same_everywhere(what: str, value) -> None:
    """MultiHostError naming the processes whose `value` differs from process 0's; no-op on one process."""
    if jax.process_count() == 1:
        return
    everyone = np.asarray(multihost_utils.process_allgather(fingerprint(value)))
    differ = [i for i in range(len(everyone)) if not np.array_equal(everyone[i], everyone[0])]
    if differ:
        raise MultiHostError(
            f"{what} differs between processes: processes {differ} have another than process 0 "
            "(run the same command, config and workdir on every host)"
        )


def barrier(name: str) -> None:
    """Waits until every process reaches the barrier `name` (no-op on one process)."""
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices(name)
