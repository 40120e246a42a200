"""One data-parallel mesh over every device of every host, and the shardings the train step uses.

The same jitted step runs on one CPU, one host with many accelerators and a TPU pod: only the mesh
changes. Parameters are replicated; batches are split along the leading axis over the 'data' axis.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

DATA_AXIS = "data"


def make_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A 1-D mesh named 'data' over the given devices (default: all devices of all processes)."""
    devices = jax.devices() if devices is None else list(devices)
    return Mesh(np.asarray(devices), (DATA_AXIS,))


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Leading (batch) axis split over the data axis."""
    return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
    """Every device holds the whole array."""
    return NamedSharding(mesh, PartitionSpec())


def check_batch_size(global_batch_size: int, mesh: Mesh) -> None:
    """Raises when the global batch does not split evenly over devices and processes."""
    for count, what in ((mesh.size, "devices"), (jax.process_count(), "processes")):
        if global_batch_size % count:
            raise ValueError(f"train.batch_size={global_batch_size} is not divisible by the {count} {what}")


def global_batch(local_batch, mesh: Mesh):
    """This process's slice of a batch (a pytree of numpy arrays) -> global arrays sharded over 'data'."""
    sharding = batch_sharding(mesh)
    return jax.tree_util.tree_map(
        lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), local_batch
    )
