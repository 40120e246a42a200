"""Optional initialisation of the student's VGG-19 layers (conv1_1 .. conv4_2) from ImageNet weights.

The user supplies the file; two formats, chosen by suffix:
  .npz  arrays named "conv1_1/kernel" (HWIO) and "conv1_1/bias", ... "conv4_2/..."; loaded with
        allow_pickle=False, since a weights file is data and must never run code.
  .h5   the Keras file vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5: one group per layer
        (block{b}_conv{c} -> conv{b}_{c}) whose `weight_names` attribute lists kernel (HWIO) then
        bias; the names are paths relative to the layer group (standard Keras 2) or to a nested group
        of the same name. A whole-model file with a top-level `model_weights` group works too.

Only conv1_1 .. conv4_2 are copied; conv4_3_CPM, conv4_4_CPM and the stages keep their init, and the
width of the model must be 1 (shapes are checked). Input convention: Keras/Caffe VGG was trained on
BGR, mean-subtracted 0-255 images, while this network is fed RGB x / 256 - 0.5. We do not convert
the first layer: the weights are only a starting point and the network is fine-tuned.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import flax.core
import jax.numpy as jnp
import numpy as np

from ltsh_jax.models.openpose import VGG_LAYERS

VGG_NAMES: tuple[str, ...] = tuple(name for name, _, _ in VGG_LAYERS)


def keras_layer_name(name: str) -> str:
    """conv{b}_{c} -> block{b}_conv{c}, the Keras VGG19 layer name."""
    block, conv = name.removeprefix("conv").split("_")
    return f"block{block}_conv{conv}"


def _read_npz(path: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    with np.load(path, allow_pickle=False) as data:
        weights = {}
        for name in VGG_NAMES:
            for part in ("kernel", "bias"):
                if f"{name}/{part}" not in data.files:
                    raise ValueError(f"{path}: layer {name} has no array '{name}/{part}'")
            weights[name] = (np.asarray(data[f"{name}/kernel"]), np.asarray(data[f"{name}/bias"]))
    return weights


def _read_h5(path: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    import h5py  # only needed for this format

    weights = {}
    with h5py.File(path, "r") as f:
        root = f["model_weights"] if "model_weights" in f else f
        for name in VGG_NAMES:
            layer = keras_layer_name(name)
            if layer not in root:
                raise ValueError(f"{path}: layer {name} (Keras group '{layer}') is missing")
            group = root[layer]
            weight_names = [n.decode() if isinstance(n, bytes) else str(n) for n in group.attrs.get("weight_names", [])]
            if len(weight_names) < 2:
                raise ValueError(
                    f"{path}: layer {name} ('{layer}') lists {len(weight_names)} weights, want kernel and bias"
                )
            arrays = []
            for weight_name in weight_names[:2]:
                if weight_name in group:
                    arrays.append(np.asarray(group[weight_name]))
                elif layer in group and weight_name in group[layer]:
                    arrays.append(np.asarray(group[layer][weight_name]))
                else:
                    raise ValueError(f"{path}: layer {name} ('{layer}') has no dataset '{weight_name}'")
            weights[name] = (arrays[0], arrays[1])
    return weights


def load_vgg19_weights(params: Mapping[str, Any], path: str | os.PathLike) -> Any:
    """Returns a copy of `params` (the model's 'params' collection) with backbone/conv1_1 .. conv4_2
    replaced by the file's weights; `params` itself is not modified.

    Raises FileNotFoundError for a missing file and ValueError, naming the file and the layer, for an
    unknown suffix, a missing layer, a shape mismatch (e.g. a width != 1 model) or non-finite values.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"VGG-19 weights file not found: {path}")
    suffix = os.path.splitext(path)[1].lower()
    if suffix == ".npz":
        weights = _read_npz(path)
    elif suffix in (".h5", ".hdf5"):
        weights = _read_h5(path)
    else:
        raise ValueError(f"{path}: unknown VGG-19 weights format '{suffix}' (expected .npz or .h5)")
    if "backbone" not in params:
        raise ValueError("params has no 'backbone': pass the 'params' collection of an OpenPose model")

    frozen = isinstance(params, flax.core.FrozenDict)
    new_params = flax.core.unfreeze(params)  # copies the dicts, shares the arrays
    backbone = new_params["backbone"]
    for name in VGG_NAMES:
        for part, value in zip(("kernel", "bias"), weights[name], strict=True):
            current = backbone[name][part]
            if value.shape != current.shape:
                raise ValueError(
                    f"{path}: layer {name} {part} has shape {value.shape} in the file but {tuple(current.shape)} in "
                    "the model (HWIO kernels; the model width must be 1)"
                )
            if not np.isfinite(value).all():
                raise ValueError(f"{path}: layer {name} {part} has NaN or infinite values")
            backbone[name][part] = jnp.asarray(value, dtype=current.dtype)
    return flax.core.freeze(new_params) if frozen else new_params
