"""PhotoWCT's VGG-19 encoder/decoder pair in JAX: the feature space of the D_Style transfer when weights are given.

Li et al. (ECCV 2018, "A closed-form solution to photorealistic image stylization"; the paper's [25]) run the
whitening-colouring transform (WCT) in the features of a VGG-19 encoder (conv1_1 .. relu{L}_1) and map them
back to an image with a decoder trained to invert it. Their decoder mirrors the encoder and replaces each
max-pool by an unpooling that puts every value back where the encoder's pool found its maximum (the
"switches"), which keeps edges sharp where upsampling would blur them. Their method is a cascade, coarse to
fine: WCT at relu4_1, decode, encode that at relu3_1, WCT, decode, ... down to relu1_1, each level with its
own decoder and the same encoder (the style's features of all levels come from one encoding).
`VggFeatureSpace(cascade=True)` is that cascade from `level` down to 1; `cascade=False` runs the single
level `level`. It implements ltsh_jax.synth.stylize.TransferSpace:
    stylize.stylize(content, mask, style, style_mask, feature_space=VggFeatureSpace.from_file(path, level=4))

Architecture (as PhotoWCT's models.py): images are RGB in [0, 1]; the encoder starts with a 1x1 conv0
(3 -> 3, no ReLU: PhotoWCT's input normalisation), then 3x3 convs with reflection padding, each followed by
a ReLU; 2x2 stride-2 max-pools (sizes rounded down; the unpooling restores the size, zeros in an odd last
row or column). Decoder L has a ReLU after every conv except its last (conv1_1, to RGB).
  encoder: conv0, conv1_1 | conv1_2 pool1 conv2_1 | conv2_2 pool2 conv3_1 | conv3_2 conv3_3 conv3_4 pool3 conv4_1
           (features relu1_1 | relu2_1 | relu3_1 | relu4_1, widths 64, 128, 256, 512)
  decoder L (L = 4 starts at the left, L = 1 at conv1_1): conv4_1 unpool3 conv3_4 conv3_3 conv3_2 |
           conv3_1 unpool2 conv2_2 | conv2_1 unpool1 conv1_2 | conv1_1

Weights file (no weights ship with the project and nothing is downloaded): a .npz, read with
allow_pickle=False, holding one float array per kernel and bias:
  encoder/conv0/kernel [1, 1, 3, 3], encoder/conv0/bias [3],
  encoder/conv{b}_{c}/kernel [3, 3, Cin, Cout] (HWIO), encoder/conv{b}_{c}/bias [Cout], up to conv{level}_1;
  decoder{L}/conv{b}_{c}/kernel and /bias for every decoder used (L = level, and level-1 .. 1 for the
  cascade), with the encoder conv of the same name's shape transposed: [3, 3, Cout_enc, Cin_enc].
Every name, shape, dtype (floating) and value (finite) the configuration needs is checked; an error names
the file and the array (and the expected shape). Arrays the configuration does not need are ignored.

Converting the public PhotoWCT weights (FastPhotoStyle's photo_wct.pth, a PyTorch state dict with keys
such as "e4.conv1_1.weight" [Cout, Cin, 3, 3] and "d4.conv3_4.bias") is for the user to run with their own
PyTorch; e1 .. e3 repeat the first layers of e4, so only e4 is kept, as the encoder:
    import numpy as np, torch
    state = torch.load("photo_wct.pth", map_location="cpu", weights_only=True)
    assert all(torch.equal(state[k], state["e4" + k[2:]]) for k in state if k[:2] in ("e1", "e2", "e3"))
    arrays = {}
    for key, value in state.items():
        net, layer, part = key.split(".")  # e.g. "d3", "conv2_2", "weight"
        if net in ("e1", "e2", "e3"):
            continue
        prefix = "encoder" if net == "e4" else "decoder" + net[1]
        value = value.numpy()
        if part == "weight":
            arrays[f"{prefix}/{layer}/kernel"] = value.transpose(2, 3, 1, 0)  # OIHW -> HWIO
        else:
            arrays[f"{prefix}/{layer}/bias"] = value
    np.savez("photo_wct.npz", **arrays)
"""

from __future__ import annotations

import dataclasses
import functools
import os
import zipfile
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from ltsh_jax.synth.stylize import DegenerateRegionError, RegionWct

VGG_WIDTHS: tuple[int, int, int, int] = (64, 128, 256, 512)  # output widths of blocks 1..4
LEVELS = (1, 2, 3, 4)
# The encoder after conv0, level by level: conv names, with "pool" for a max-pool.
ENCODER_STAGES: dict[int, tuple[str, ...]] = {
    1: ("conv1_1",),
    2: ("conv1_2", "pool", "conv2_1"),
    3: ("conv2_2", "pool", "conv3_1"),
    4: ("conv3_2", "conv3_3", "conv3_4", "pool", "conv4_1"),
}
# Decoder L runs the stages of levels L, L-1, ..., 1; "unpool" restores the size of the matching encoder pool.
DECODER_STAGES: dict[int, tuple[str, ...]] = {
    4: ("conv4_1", "unpool", "conv3_4", "conv3_3", "conv3_2"),
    3: ("conv3_1", "unpool", "conv2_2"),
    2: ("conv2_1", "unpool", "conv1_2"),
    1: ("conv1_1",),
}


def encoder_layers(level: int) -> tuple[str, ...]:
    """Ops of the encoder up to relu{level}_1: conv0, then conv names and "pool"."""
    return ("conv0",) + sum((ENCODER_STAGES[k] for k in range(1, level + 1)), ())


def decoder_layers(level: int) -> tuple[str, ...]:
    """Ops of decoder `level`, from relu{level}_1 features to RGB: conv names and "unpool"."""
    return sum((DECODER_STAGES[k] for k in range(level, 0, -1)), ())


def encoder_conv_shape(name: str, widths: tuple[int, ...]) -> tuple[int, int, int, int]:
    """HWIO kernel shape of encoder conv `name` ("conv0" or "conv{b}_{c}") for block widths `widths`."""
    if name == "conv0":
        return (1, 1, 3, 3)
    block, index = (int(n) for n in name.removeprefix("conv").split("_"))
    cin = widths[block - 1] if index > 1 else (3 if block == 1 else widths[block - 2])
    return (3, 3, cin, widths[block - 1])


def expected_shapes(level: int, decoder_levels: tuple[int, ...], widths: tuple[int, ...] = VGG_WIDTHS) -> dict:
    """name -> shape of every array a space of encoder depth `level` and decoders `decoder_levels` needs."""
    if level not in LEVELS or not set(decoder_levels) <= set(range(1, level + 1)):
        raise ValueError(f"VGG level must be in 1..4 and decoders in 1..level, got {level} and {decoder_levels}")
    if len(widths) != 4 or min(widths) < 1:
        raise ValueError(f"widths must be 4 positive block widths, got {widths}")
    shapes = {}
    for name in (op for op in encoder_layers(level) if op != "pool"):
        kernel = encoder_conv_shape(name, widths)
        shapes[f"encoder/{name}/kernel"], shapes[f"encoder/{name}/bias"] = kernel, kernel[-1:]
    for decoder in decoder_levels:
        for name in (op for op in decoder_layers(decoder) if op != "unpool"):
            height, width, cin, cout = encoder_conv_shape(name, widths)
            shapes[f"decoder{decoder}/{name}/kernel"], shapes[f"decoder{decoder}/{name}/bias"] = (
                (height, width, cout, cin), (cin,))  # fmt: skip
    return shapes


def load_weights(path: str | os.PathLike, shapes: Mapping[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """name -> float32 array of every name in `shapes`, read from the .npz at `path` (allow_pickle=False).

    Raises FileNotFoundError for a missing file and ValueError, naming the file and the array, for a file
    that is not an .npz, a missing array, an object (pickled) array, a wrong shape or dtype, non-finite values.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"VGG encoder/decoder weights file not found: {path}")
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise ValueError(f"{path}: not a readable .npz archive of VGG weights ({e})") from e
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"{path}: holds a single array, not an .npz archive of named VGG weight arrays")
    arrays = {}
    with archive:
        missing = [name for name in shapes if name not in archive.files]
        if missing:
            raise ValueError(
                f"{path}: missing array '{missing[0]}' (expected shape {shapes[missing[0]]})"
                + (f" and {len(missing) - 1} more" if len(missing) > 1 else "")
                + "; see ltsh_jax/synth/vgg_features.py for the layout"
            )
        for name, shape in shapes.items():
            try:
                value = archive[name]
            except ValueError as e:  # numpy refuses object arrays under allow_pickle=False
                raise ValueError(
                    f"{path}: array '{name}' is an object (pickled) array, which is never loaded; "
                    f"store a plain float array of shape {shape}"
                ) from e
            if not np.issubdtype(value.dtype, np.floating):
                raise ValueError(f"{path}: array '{name}' has dtype {value.dtype}, expected a float array")
            if value.shape != tuple(shape):
                raise ValueError(f"{path}: array '{name}' has shape {value.shape}, expected {tuple(shape)}")
            if not np.isfinite(value).all():
                raise ValueError(f"{path}: array '{name}' has NaN or infinite values")
            arrays[name] = value.astype(np.float32)
    return arrays


def random_weights(shapes: Mapping[str, tuple[int, ...]], seed: int = 0) -> dict[str, np.ndarray]:
    """He-normal kernels and zero biases of the given shapes (for tests and timing; not a trained model)."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for name in sorted(shapes):
        shape = shapes[name]
        if name.endswith("/kernel"):
            arrays[name] = rng.normal(0.0, np.sqrt(2.0 / np.prod(shape[:3])), shape).astype(np.float32)
        else:
            arrays[name] = np.zeros(shape, np.float32)
    return arrays


def nest(arrays: Mapping[str, np.ndarray]) -> dict:
    """{"encoder/conv1_1/kernel": a, ...} -> {"encoder": {"conv1_1": {"kernel": a}}, ...} as jax arrays."""
    tree: dict = {}
    for name, value in arrays.items():
        net, layer, part = name.split("/")
        tree.setdefault(net, {}).setdefault(layer, {})[part] = jnp.asarray(value)
    return tree


def max_pool_with_switches(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """2x2 stride-2 max-pool of x [H, W, C] (sizes rounded down) and its switches: bool [H, W, C], True at the
    (first, in row-major order) maximum of every window; an odd last row or column is never a switch."""
    height, width, channels = x.shape
    h, w = height // 2, width // 2
    windows = x[: 2 * h, : 2 * w].reshape(h, 2, w, 2, channels).transpose(0, 2, 4, 1, 3).reshape(h, w, channels, 4)
    pooled = windows.max(axis=-1)
    hit = jax.nn.one_hot(jnp.argmax(windows, axis=-1), 4, dtype=bool)  # [h, w, C, 4]
    switches = hit.reshape(h, w, channels, 2, 2).transpose(0, 3, 1, 4, 2).reshape(2 * h, 2 * w, channels)
    return pooled, jnp.pad(switches, ((0, height - 2 * h), (0, width - 2 * w), (0, 0)))


def unpool(x: jax.Array, switches: jax.Array) -> jax.Array:
    """Max-unpooling of x [h, w, C] to the switches' grid [H, W, C]: each value at its window's switch, 0 elsewhere."""
    height, width, _ = switches.shape
    up = jnp.repeat(jnp.repeat(x, 2, axis=0), 2, axis=1)
    up = jnp.pad(up, ((0, height - up.shape[0]), (0, width - up.shape[1]), (0, 0)))
    return jnp.where(switches, up, 0.0)


def conv(x: jax.Array, layer: Mapping[str, jax.Array], relu: bool = True) -> jax.Array:
    """Conv of x [H, W, Cin] with layer["kernel"] [k, k, Cin, Cout] (HWIO) after reflection padding (same size)."""
    pad = layer["kernel"].shape[0] // 2
    x = jnp.pad(x, ((pad, pad), (pad, pad), (0, 0)), mode="reflect")
    dimensions = ("NHWC", "HWIO", "NHWC")
    out = jax.lax.conv_general_dilated(x[None], layer["kernel"], (1, 1), "VALID", dimension_numbers=dimensions)[0]
    out = out + layer["bias"]
    return jax.nn.relu(out) if relu else out


@functools.partial(jax.jit, static_argnames=("level",))
def vgg_encode(encoder: Mapping, image: jax.Array, level: int) -> tuple[tuple[jax.Array, ...], tuple[jax.Array, ...]]:
    """(features relu1_1 .. relu{level}_1, switches of pool1 .. pool{level-1}) of an image [H, W, 3] in [0, 1]."""
    x = conv(image, encoder["conv0"], relu=False)
    features, switches = [], []
    for k in range(1, level + 1):
        for op in ENCODER_STAGES[k]:
            if op == "pool":
                x, switch = max_pool_with_switches(x)
                switches.append(switch)
            else:
                x = conv(x, encoder[op])
        features.append(x)
    return tuple(features), tuple(switches)


@functools.partial(jax.jit, static_argnames=("level",))
def vgg_decode(decoder: Mapping, features: jax.Array, switches: tuple[jax.Array, ...], level: int) -> jax.Array:
    """The image [H, W, 3] (not clipped) decoded from relu{level}_1 features with the encoder's switches."""
    x, pending = features, list(switches)
    for op in decoder_layers(level):
        if op == "unpool":
            x = unpool(x, pending.pop())
        else:
            x = conv(x, decoder[op], relu=op != "conv1_1")
    return x


@dataclasses.dataclass(frozen=True)
class VggFeatureSpace:
    """PhotoWCT's encoder/decoder pair as a stylize.TransferSpace.

    Attributes:
      params: {"encoder": {conv: {"kernel", "bias"}}, "decoder{L}": {...}} (see the module docstring).
      level: the deepest level, relu{level}_1 (1..4).
      cascade: WCT at level, level-1, ..., 1 (PhotoWCT), each decoded and re-encoded; False: level only.
      wct_eps: added to both feature covariances' diagonals (used instead of StylizeConfig.wct_eps, which is
        in [0, 1] pixel units: VGG features live on PhotoWCT's 0-255 input scale). PhotoWCT adds 1 to the
        content covariance only and drops the style covariance's eigenvalues below 1e-5.
    """

    params: Mapping
    level: int = 4
    cascade: bool = True
    wct_eps: float = 1.0

    @property
    def levels(self) -> tuple[int, ...]:
        """The levels whose WCT runs, in order."""
        return tuple(range(self.level, 0, -1)) if self.cascade else (self.level,)

    @staticmethod
    def shapes(level: int = 4, cascade: bool = True, widths: tuple[int, ...] = VGG_WIDTHS) -> dict:
        """name -> shape of the arrays a space of this configuration needs."""
        return expected_shapes(level, tuple(range(level, 0, -1)) if cascade else (level,), widths)

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike,
        level: int = 4,
        cascade: bool = True,
        widths: tuple[int, ...] = VGG_WIDTHS,
        wct_eps: float = 1.0,
    ) -> VggFeatureSpace:
        """The space of the user's weights file (.npz, layout in the module docstring), checked name by name."""
        arrays = load_weights(path, cls.shapes(level, cascade, widths))
        return cls(params=nest(arrays), level=level, cascade=cascade, wct_eps=wct_eps)

    def encode(self, image: jax.Array, level: int | None = None) -> tuple[tuple[jax.Array, ...], tuple[jax.Array, ...]]:
        """(relu1_1 .. relu{level}_1 features, pool switches) of an image [H, W, 3] in [0, 1]."""
        return vgg_encode(self.params["encoder"], image, self.level if level is None else level)

    def decode(self, features: jax.Array, switches: tuple[jax.Array, ...], level: int | None = None) -> jax.Array:
        """The image [H, W, 3] decoded from relu{level}_1 features and the switches `encode` recorded."""
        level = self.level if level is None else level
        return vgg_decode(self.params[f"decoder{level}"], features, switches, level)

    def transfer(self, content: jax.Array, style: jax.Array, wct: RegionWct) -> jax.Array:
        """The restyled content [H, W, 3] in [0, 1]: per level, encode, `wct` toward the style's features, decode.

        In the cascade, a level whose grid leaves a region too few pixels (stylize.DegenerateRegionError) is
        skipped, as PhotoWCT skips it; the error is raised only when every level is skipped.
        """
        style_features, _ = self.encode(style)
        image, skipped = content, []
        for level in self.levels:
            features, switches = self.encode(image, level)
            try:
                moved = wct(features[-1], style_features[level - 1], self.wct_eps)
            except DegenerateRegionError as e:
                skipped.append(e)
                if len(skipped) == len(self.levels):
                    raise
                continue
            image = self.decode(moved, switches, level)
        return jnp.clip(image, 0.0, 1.0)
