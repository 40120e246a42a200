"""The flags that make a binary one process of a multi-host run (train, reproduce, evaluate).

Run the same command on every host with --coordinator_address=HOST0:PORT --num_processes=N --process_id=I,
or --distributed alone where jax.distributed detects the cluster (TPU pods, SLURM).
"""

from absl import flags

from ltsh_jax import distributed

_COORDINATOR = flags.DEFINE_string(
    "coordinator_address", None, "host:port of process 0's coordinator (multi-host runs; with the next two)."
)
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "Processes in the run (with --coordinator_address).")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "This process's index in [0, num_processes).")
_DISTRIBUTED = flags.DEFINE_bool(
    "distributed", False, "Multi-host run with the cluster auto-detected (TPU pods, SLURM) when no coordinator given."
)
_HEARTBEAT = flags.DEFINE_integer(
    "heartbeat_timeout",
    distributed.DEFAULT_HEARTBEAT_TIMEOUT_S,
    "Seconds after which a silent process counts as dead and the others stop.",
)


def initialize_from_flags() -> bool:
    """jax.distributed from the flags above (before any JAX computation); False for a single-process run."""
    return distributed.initialize(
        _COORDINATOR.value,
        _NUM_PROCESSES.value,
        _PROCESS_ID.value,
        auto=_DISTRIBUTED.value,
        heartbeat_timeout_s=_HEARTBEAT.value,
    )
