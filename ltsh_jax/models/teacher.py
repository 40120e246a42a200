"""The teacher network of the paper's reference code (Flax linen): a crop in, one logit per group out.

Architecture (docs/reference.md): its own VGG-19 conv1_1 .. conv4_2, conv 256, conv 128 (3x3; the same
layers as the student's backbone, so `VGGBackbone` is reused and ImageNet weights load by the same
names), max pool, conv 64, conv 64 (3x3), max pool, FC 512, FC 512, FC |g|. ReLU after every layer
but the last. At 368 x 368 input the features before the FC layers are 12 x 12 x 64.

Parameter tree: backbone/conv1_1 .. conv4_4_CPM (as models/openpose.py), head/conv5_1, head/conv5_2,
head/fc1, head/fc2, head/logits. `width` scales every hidden channel and FC size (not the logits), and
the input size is free (the FC input follows from it), which makes the tiny variant.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import scipy.stats

from ltsh_jax.models.conv import max_pool_2x2
from ltsh_jax.models.openpose import VGGBackbone, scaled

HEAD_CONVS: tuple[tuple[str, int], ...] = (("conv5_1", 64), ("conv5_2", 64))
HEAD_FCS: tuple[tuple[str, int], ...] = (("fc1", 512), ("fc2", 512))


class TeacherHead(nn.Module):
    """pool, conv 64, conv 64, pool, FC 512, FC 512, FC num_groups (logits, float32)."""

    num_groups: int
    width: float = 1.0
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = max_pool_2x2(x)
        for name, channels in HEAD_CONVS:
            x = nn.Conv(
                scaled(channels, self.width),
                (3, 3),
                padding="SAME",
                dtype=self.dtype,
                param_dtype=jnp.float32,
                name=name,
            )(x)
            x = nn.relu(x)
        x = max_pool_2x2(x)
        x = x.reshape(x.shape[0], -1)
        for name, features in HEAD_FCS:
            x = nn.relu(nn.Dense(scaled(features, self.width), dtype=self.dtype, param_dtype=jnp.float32, name=name)(x))
        return nn.Dense(self.num_groups, dtype=self.dtype, param_dtype=jnp.float32, name="logits")(x).astype(
            jnp.float32
        )


class Teacher(nn.Module):
    """images float [k, H, W, 3] (normalised x / 256 - 0.5) -> logits float32 [k, num_groups]."""

    num_groups: int
    width: float = 1.0
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"teacher images must have shape [k, H, W, 3], got {images.shape}")
        features = VGGBackbone(width=self.width, dtype=self.dtype, name="backbone")(images.astype(self.dtype))
        return TeacherHead(self.num_groups, width=self.width, dtype=self.dtype, name="head")(features)


def init_teacher_params(model: Teacher, input_size: int, seed: int) -> dict:
    """Parameters for input_size x input_size crops: LeCun-normal kernels (truncated at 2 std, as Flax's
    default), zero biases, drawn on the host with numpy from `seed`.

    Same distribution as `model.init`, without compiling its random-number graph (over a minute on a
    busy 2-core CPU for a network this deep); the shapes come from `jax.eval_shape`.
    """
    shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, input_size, input_size, 3))))
    rng = np.random.default_rng(seed)

    def draw(path, leaf):
        if getattr(path[-1], "key", None) == "bias":
            return jnp.zeros(leaf.shape, leaf.dtype)
        fan_in = int(np.prod(leaf.shape[:-1]))
        std = 1.0 / np.sqrt(fan_in) / 0.87962566103423978  # std of a unit normal truncated to [-2, 2]
        values = scipy.stats.truncnorm.rvs(-2.0, 2.0, size=leaf.shape, random_state=rng) * std
        return jnp.asarray(values, leaf.dtype)

    return jax.tree_util.tree_map_with_path(draw, shapes["params"])
