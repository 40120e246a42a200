"""The jitted train step gives the same losses on 1 and on 8 (forced host) devices."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]

# Three train steps of the tiny model on a fixed synthetic batch of 8 crops; prints the losses.
_SCRIPT = r"""
import json, jax, numpy as np
from experiments.configs import smoke
from ltsh_jax import sharding
from ltsh_jax.train import optim
from ltsh_jax.people import People
from ltsh_jax.models.openpose import build_model, get_skeleton, init_params
from ltsh_jax.train.step import create_train_state, make_train_step

config = smoke.get_config("test")
size, stride, batch_size = config.data.input_size, config.data.stride, 8
rng = np.random.default_rng(0)
people = People(
    keypoints=rng.uniform(0, size, (batch_size, 2, 15, 2)).astype(np.float32),
    labelled=rng.uniform(size=(batch_size, 2, 15)) < 0.8,
    valid=np.array([[True, i % 2 == 0] for i in range(batch_size)]),
    is_synthetic=np.zeros((batch_size, 2), bool),
)
batch = dict(
    image=rng.integers(0, 256, (batch_size, size, size, 3), dtype=np.uint8),
    people=people,
    ignore_mask=np.zeros((batch_size, size // stride, size // stride), np.uint8),
    is_synthetic=np.array([False] * 4 + [True] * 4),
)
mesh = sharding.make_mesh()
skeleton = get_skeleton(config)
model = build_model(config, skeleton)
params = init_params(model, config, jax.random.key(0))
optimizer = optim.make_student_optimizer(config.optim, params)
state = create_train_state(params, optimizer, mesh=mesh)
step = make_train_step(model, optimizer, config, mesh, skeleton)
losses = []
for _ in range(3):
    state, metrics = step(state, sharding.global_batch(batch, mesh))
    losses.append([float(metrics[k]) for k in ("loss", "real_loss_per_joint", "synthetic_loss_per_joint")])
print("RESULT", json.dumps({"devices": jax.device_count(), "losses": losses}))
"""


def _run(device_count: int) -> dict:
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={device_count}", JAX_PLATFORMS="cpu")
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr[-3000:]
    line = next(line for line in out.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


def test_same_losses_on_one_and_eight_devices():
    one, eight = _run(1), _run(8)
    assert one["devices"] == 1 and eight["devices"] == 8
    np.testing.assert_allclose(eight["losses"], one["losses"], rtol=2e-5)
    assert one["losses"][2][0] < one["losses"][0][0]  # the steps did train
