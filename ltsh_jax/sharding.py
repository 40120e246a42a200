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


def _device_rows(mesh: Mesh, global_batch_size: int) -> dict[jax.Device, np.ndarray]:
    """{addressable device: the global batch rows it holds}, read from the batch sharding's index map."""
    index_map = batch_sharding(mesh).addressable_devices_indices_map((global_batch_size,))
    return {device: np.arange(global_batch_size)[index[0]] for device, index in index_map.items()}


def process_rows(mesh: Mesh, global_batch_size: int) -> np.ndarray:
    """The global batch rows this process's devices hold, ascending: the rows its input pipeline makes.

    Taken from the sharding, not from the process index, so a mesh whose device order differs from the
    process order (or gives a process non-contiguous rows) still puts every row where its device is.
    """
    check_batch_size(global_batch_size, mesh)
    return np.sort(np.concatenate(list(_device_rows(mesh, global_batch_size).values())))


def global_batch(local_batch, mesh: Mesh, rows: np.ndarray | None = None):
    """This process's rows of a batch (a pytree of numpy arrays) -> global arrays sharded over 'data'.

    rows: the global rows the local arrays hold, in order (default: `process_rows`); each addressable
    device gets exactly its rows, whatever the mesh's device order.
    """
    leaves = jax.tree_util.tree_leaves(local_batch)
    local_size = int(np.shape(leaves[0])[0])
    global_size = local_size * mesh.size // len(mesh.local_devices)
    rows = process_rows(mesh, global_size) if rows is None else np.asarray(rows)
    if len(rows) != local_size:
        raise ValueError(f"the local batch has {local_size} rows, this process's devices hold {len(rows)}")
    sharding = batch_sharding(mesh)
    where = {device: np.searchsorted(rows, held) for device, held in _device_rows(mesh, global_size).items()}

    def to_global(x):
        x = np.asarray(x)
        shards = [jax.device_put(x[where[device]], device) for device in sharding.addressable_devices]
        return jax.make_array_from_single_device_arrays((global_size, *x.shape[1:]), sharding, shards)

    return jax.tree_util.tree_map(to_global, local_batch)
