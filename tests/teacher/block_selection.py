"""A hand-built teacher block for `hook.add_step`, and its independent numpy reference.

Four steps of 8 crops (k = 3): losses from {0.5, 1, 2} with ties inside a step, across steps and with
the crops already kept; synthetic crops as hard as the hardest real ones; one NaN loss; step 0 has
fewer real crops than k. Every image is filled with one number naming its (step, slot), so a kept image
says which crop it is. test_hook.py runs `device_blocks` in-process on one device and in a subprocess
on 4 forced host devices (`python -m tests.teacher.block_selection` prints its results as JSON).
"""

from __future__ import annotations

import json

import numpy as np

STEPS, BATCH, K, CROP = 4, 8, 3, 4


def block_case() -> dict[str, np.ndarray]:
    """images uint8 [STEPS, B, S, S, 3], is_synthetic bool [STEPS, B], losses float32 [STEPS, B],
    synthetic float32 [STEPS] (each step's synthetic loss per joint)."""
    is_synthetic = np.zeros((STEPS, BATCH), bool)
    is_synthetic[:, 1::2] = True  # half synthetic, alternating like sampling.real_slots(8, 0.5)
    is_synthetic[0] = np.arange(BATCH) < 6  # step 0: two real crops only (fewer than k)
    losses = np.array(
        [
            [9.0, 9.0, 9.0, 9.0, 9.0, 9.0, 1.0, 0.5],  # real: slots 6, 7 (the 9s are synthetic)
            [2.0, 9.0, 1.0, 9.0, 1.0, 9.0, 0.5, 9.0],  # real: 0, 2, 4, 6; ties 1.0 with step 0 slot 6
            [1.0, 9.0, 2.0, 9.0, np.nan, 9.0, 2.0, 9.0],  # ties at 2.0 with step 1 slot 0; a NaN crop
            [2.0, 9.0, 0.5, 9.0, 2.0, 9.0, 1.0, 9.0],  # more ties at 2.0: later, so not kept
        ],
        np.float32,
    )
    code = np.arange(STEPS * BATCH, dtype=np.uint8).reshape(STEPS, BATCH)  # step * B + slot
    images = np.broadcast_to(code[:, :, None, None, None], (STEPS, BATCH, CROP, CROP, 3)).copy()
    synthetic = np.array([1.25, 0.75, 2.0, 1.5], np.float32)
    return {"images": images, "is_synthetic": is_synthetic, "losses": losses, "synthetic": synthetic}


def reference_blocks(case: dict[str, np.ndarray]) -> list[dict[str, list]]:
    """The block after each step, by a plain sort of every real crop seen so far on (-loss, step, slot);
    NaN losses are never kept; slots without a crop hold (-inf, key -1, zeros)."""
    out, crops, total = [], [], np.float32(0.0)
    for step in range(STEPS):
        total = np.float32(total + case["synthetic"][step])
        for slot in range(BATCH):
            loss = float(case["losses"][step, slot])
            if not case["is_synthetic"][step, slot] and not np.isnan(loss):
                crops.append((-loss, step, slot))
        best = sorted(crops)[:K]
        best += [(np.inf, None, None)] * (K - len(best))
        out.append(
            {
                "synthetic_sum": float(total),
                "synthetic_count": step + 1,
                "best_losses": [-loss for loss, _, _ in best],
                "best_keys": [-1 if s is None else s * BATCH + slot for _, s, slot in best],
                "best_images": [0 if s is None else int(case["images"][s, slot, 0, 0, 0]) for _, s, slot in best],
            }
        )
    return out


def device_blocks(num_devices: int | None = None, sharded_losses: bool = True) -> dict:
    """Runs `hook.add_step` over a mesh of the first `num_devices` devices (default all) on the case's global
    batches; returns the block after each step (as `reference_blocks` does), the mesh's device count and
    whether the blocks came back replicated. The losses are sharded over the batch like the images unless
    `sharded_losses` is off (then replicated, as the train step returns them)."""
    import jax

    from ltsh_jax import sharding
    from ltsh_jax.teacher import hook

    case = block_case()
    mesh = sharding.make_mesh(jax.devices()[:num_devices])
    add_step = hook.make_add_step(mesh)
    block = jax.device_put(hook.empty_block(K, CROP), sharding.replicated(mesh))
    loss_sharding = sharding.batch_sharding(mesh) if sharded_losses else sharding.replicated(mesh)
    blocks, replicated = [], True
    for step in range(STEPS):
        batch = sharding.global_batch({"image": case["images"][step], "is_synthetic": case["is_synthetic"][step]}, mesh)
        losses = jax.device_put(case["losses"][step], loss_sharding)
        block = add_step(block, batch["image"], batch["is_synthetic"], losses, case["synthetic"][step], step)
        replicated &= all(x.sharding.is_fully_replicated for x in jax.tree_util.tree_leaves(block))
        host = jax.device_get(block)
        blocks.append(
            {
                "synthetic_sum": float(host.synthetic_sum),
                "synthetic_count": int(host.synthetic_count),
                "best_losses": host.best_losses.tolist(),
                "best_keys": host.best_keys.tolist(),
                "best_images": [int(image[0, 0, 0]) for image in host.best_images],
                "uniform_images": bool((host.best_images == host.best_images[:, :1, :1, :1]).all()),
            }
        )
    return {"devices": mesh.size, "replicated": bool(replicated), "blocks": blocks}


if __name__ == "__main__":
    print("RESULT", json.dumps({"sharded_losses": device_blocks(), "replicated_losses": device_blocks(None, False)}))
