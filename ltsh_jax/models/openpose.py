"""OpenPose (Cao et al. 2017, the CMU "MPI" model) as a Flax linen module: the student network.

A VGG-19 backbone (conv1_1 .. conv4_2, then conv4_3_CPM and conv4_4_CPM) feeds a chain of stages;
each stage has two branches, L1 predicting part affinity fields (PAFs) and L2 predicting part
heatmaps, and every stage after the first also sees the previous stage's predictions. All stages are
returned because the loss supervises each of them (intermediate supervision).

Parameter tree (names are stable: optimizers freeze layers by regex on the '/'-joined path, and
`vgg_weights.load_vgg19_weights` copies ImageNet weights by name). Every conv has 'kernel' (HWIO)
and 'bias':

  backbone/conv1_1, conv1_2                      3x3, 64     (max pool 2 after conv1_2)
  backbone/conv2_1, conv2_2                      3x3, 128    (max pool 2 after conv2_2)
  backbone/conv3_1 .. conv3_4                    3x3, 256    (max pool 2 after conv3_4)
  backbone/conv4_1, conv4_2                      3x3, 512
  backbone/conv4_3_CPM, conv4_4_CPM              3x3, 256 and 128
  stage1/L1|L2/conv1 .. conv3                    3x3, 128
  stage1/L1|L2/conv4                             1x1, 512
  stage1/L1|L2/conv5                             1x1, num_pafs (L1) or num_heatmaps (L2), no ReLU
  stage{t}/L1|L2/conv1 .. conv5  (t = 2..S)      7x7, 128
  stage{t}/L1|L2/conv6                           1x1, 128
  stage{t}/L1|L2/conv7                           1x1, num_pafs (L1) or num_heatmaps (L2), no ReLU

Stage t >= 2 reads concat([backbone features, stage t-1 PAFs, stage t-1 heatmaps], channel axis).
(The CMU Caffe model concatenates in the order PAFs, heatmaps, features: permute the input channels
of stage{t}/*/conv1 when importing its weights.) Pooling is 'SAME' (ceil, like Caffe), so the maps
are ceil(H/8) x ceil(W/8). `width` scales every hidden channel count (not the 3 input channels nor
the output channels), which makes tiny test and benchmark models.

Init: Flax defaults (LeCun normal kernels, zero biases), the same numbers `nn.Conv` would draw.

`conv_impl` picks how the convolutions are computed (`ltsh_jax.models.conv`): "xla" is plain
`lax.conv` (GPU/TPU), "gemm" gives the same numbers with gradients that XLA:CPU runs faster. Max
pooling is reshape + max (same values and gradients as `nn.max_pool`, cheaper to differentiate).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from ltsh_jax.models.conv import conv2d, max_pool_2x2, resolve_conv_impl
from ltsh_jax.skeleton import SKELETONS, Skeleton

# (name, output channels, pool 2x2 after this layer), all 3x3; the names of the ImageNet VGG-19 layers.
VGG_LAYERS: tuple[tuple[str, int, bool], ...] = (
    ("conv1_1", 64, False),
    ("conv1_2", 64, True),
    ("conv2_1", 128, False),
    ("conv2_2", 128, True),
    ("conv3_1", 256, False),
    ("conv3_2", 256, False),
    ("conv3_3", 256, False),
    ("conv3_4", 256, True),
    ("conv4_1", 512, False),
    ("conv4_2", 512, False),
)
# The two OpenPose-specific backbone layers after VGG (3x3, no pooling).
CPM_LAYERS: tuple[tuple[str, int], ...] = (("conv4_3_CPM", 256), ("conv4_4_CPM", 128))
# Hidden layers of a branch as (kernel size, channels); the output 1x1 layer follows.
STAGE1_BRANCH: tuple[tuple[int, int], ...] = ((3, 128), (3, 128), (3, 128), (1, 512))
LATER_BRANCH: tuple[tuple[int, int], ...] = ((7, 128),) * 5 + ((1, 128),)


class StageOutput(NamedTuple):
    """One stage's predictions, float32 [B, H/8, W/8, C]."""

    pafs: jax.Array
    heatmaps: jax.Array


class Conv(nn.Module):
    """Stride-1 'SAME' k x k convolution with bias; the parameters and init of `nn.Conv`, computed by `conv2d`."""

    features: int
    kernel_size: int
    dtype: Any = jnp.float32
    impl: str = "xla"

    @nn.compact
    def __call__(self, x: jax.Array, parameters_only: bool = False) -> jax.Array | tuple[jax.Array, jax.Array]:
        """The convolution of x; with parameters_only, (kernel, bias) for an input like x instead."""
        k = self.kernel_size
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (k, k, x.shape[-1], self.features), jnp.float32)
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,), jnp.float32)
        if parameters_only:
            return kernel, bias
        y = conv2d(x.astype(self.dtype), kernel.astype(self.dtype), self.impl)
        return y + bias.astype(self.dtype)


def scaled(channels: int, width: float) -> int:
    """A channel count multiplied by the width factor, rounded, at least 1."""
    return max(1, int(round(channels * width)))


class VGGBackbone(nn.Module):
    """VGG-19 conv1_1 .. conv4_2 plus conv4_3_CPM and conv4_4_CPM; stride 8."""

    width: float = 1.0
    dtype: Any = jnp.float32
    conv_impl: str = "xla"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        layers = [(name, ch, pool) for name, ch, pool in VGG_LAYERS] + [(n, c, False) for n, c in CPM_LAYERS]
        for name, channels, pool in layers:
            x = nn.relu(Conv(scaled(channels, self.width), 3, self.dtype, self.conv_impl, name=name)(x))
            if pool:
                x = max_pool_2x2(x)
        return x


class Branch(nn.Module):
    """Hidden convs with ReLU, then a 1x1 output conv without activation."""

    hidden: Sequence[tuple[int, int]]
    out_channels: int
    width: float = 1.0
    dtype: Any = jnp.float32
    conv_impl: str = "xla"

    def setup(self) -> None:
        kw = dict(dtype=self.dtype, impl=self.conv_impl)
        for i, (k, channels) in enumerate(self.hidden, start=1):
            setattr(self, f"conv{i}", Conv(scaled(channels, self.width), k, **kw))
        setattr(self, f"conv{len(self.hidden) + 1}", Conv(self.out_channels, 1, **kw))

    def __call__(self, x: jax.Array, first: jax.Array | None = None) -> jax.Array:
        """x: the stage input; first: conv1's output when the caller computed it (see `Stage`)."""
        x = nn.relu(self.conv1(x) if first is None else first)
        for i in range(2, len(self.hidden) + 1):
            x = nn.relu(getattr(self, f"conv{i}")(x))
        return getattr(self, f"conv{len(self.hidden) + 1}")(x)


class Stage(nn.Module):
    """Two branches on the same input: L1 -> PAFs, L2 -> heatmaps.

    Both branches' first convolutions read the same input, so they run as one convolution with the two
    kernels side by side (same parameters and numbers; on CPU about half the time of two).
    """

    hidden: Sequence[tuple[int, int]]
    num_pafs: int
    num_heatmaps: int
    width: float = 1.0
    dtype: Any = jnp.float32
    conv_impl: str = "xla"

    @nn.compact
    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        kw = dict(width=self.width, dtype=self.dtype, conv_impl=self.conv_impl)
        branches = (Branch(self.hidden, self.num_pafs, **kw, name="L1"),
                    Branch(self.hidden, self.num_heatmaps, **kw, name="L2"))  # fmt: skip
        kernels, biases = zip(*(branch.conv1(x, parameters_only=True) for branch in branches), strict=True)
        both = conv2d(x.astype(self.dtype), jnp.concatenate(kernels, axis=-1).astype(self.dtype), self.conv_impl)
        both = both + jnp.concatenate(biases).astype(self.dtype)
        firsts = jnp.split(both, [kernels[0].shape[-1]], axis=-1)
        pafs, heatmaps = (branch(x, first) for branch, first in zip(branches, firsts, strict=True))
        return pafs, heatmaps


class OpenPose(nn.Module):
    """The multi-stage OpenPose network; returns one `StageOutput` per stage, first to last.

    Attributes:
      num_heatmaps: heatmap channels (parts + background), `Skeleton.num_heatmaps`.
      num_pafs: PAF channels (2 per limb), `Skeleton.num_pafs`.
      width: multiplies every hidden channel count (rounded, >= 1); 1.0 is the paper's model.
      num_stages: number of stages (6 in the paper).
      dtype: compute dtype (float32 or bfloat16); parameters and outputs stay float32.
      conv_impl: "xla" or "gemm" (`ltsh_jax.models.conv.conv2d`); same numbers, different speed.
    """

    num_heatmaps: int = 16
    num_pafs: int = 28
    width: float = 1.0
    num_stages: int = 6
    dtype: Any = jnp.float32
    conv_impl: str = "xla"

    @nn.compact
    def __call__(self, images: jax.Array) -> tuple[StageOutput, ...]:
        """images: float [B, H, W, 3], normalised by normalise_images."""
        if self.num_stages < 1:
            raise ValueError(f"num_stages must be >= 1, got {self.num_stages}")
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"images must have shape [B, H, W, 3], got {images.shape}")
        backbone = VGGBackbone(width=self.width, dtype=self.dtype, conv_impl=self.conv_impl, name="backbone")
        features = backbone(images.astype(self.dtype))
        outputs = []
        x = features
        for t in range(1, self.num_stages + 1):
            hidden = STAGE1_BRANCH if t == 1 else LATER_BRANCH
            stage = Stage(
                hidden,
                self.num_pafs,
                self.num_heatmaps,
                width=self.width,
                dtype=self.dtype,
                conv_impl=self.conv_impl,
                name=f"stage{t}",
            )
            pafs, heatmaps = stage(x)
            outputs.append(StageOutput(pafs.astype(jnp.float32), heatmaps.astype(jnp.float32)))
            if t < self.num_stages:
                x = jnp.concatenate([features, pafs, heatmaps], axis=-1)
        return tuple(outputs)


DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def normalise_images(images: jax.Array) -> jax.Array:
    """uint8 pixels [..., 3] -> float32 x / 256 - 0.5, the input the network is trained on (as the reference code)."""
    return jnp.asarray(images).astype(jnp.float32) / 256.0 - 0.5


def get_skeleton(config: ml_collections.ConfigDict) -> Skeleton:
    """The keypoint layout named by config.skeleton (build it once per run and pass it on)."""
    if config.skeleton not in SKELETONS:
        raise ValueError(f"config.skeleton={config.skeleton!r} is not one of {sorted(SKELETONS)}")
    return SKELETONS[config.skeleton]


def build_model(config: ml_collections.ConfigDict, skeleton: Skeleton) -> OpenPose:
    """The OpenPose student described by config.model, with output channels from the skeleton."""
    if config.model.dtype not in DTYPES:
        raise ValueError(f"config.model.dtype={config.model.dtype!r} is not one of {sorted(DTYPES)}")
    return OpenPose(
        num_heatmaps=skeleton.num_heatmaps,
        num_pafs=skeleton.num_pafs,
        width=config.model.width,
        num_stages=config.model.num_stages,
        dtype=DTYPES[config.model.dtype],
        conv_impl=resolve_conv_impl(config.model.conv_impl),
    )


def init_params(model: OpenPose, config: ml_collections.ConfigDict, rng: jax.Array) -> dict:
    """Random parameters for crops of config.data.input_size (float32)."""
    size = config.data.input_size
    return model.init(rng, jnp.zeros((1, size, size, 3), jnp.float32))["params"]
