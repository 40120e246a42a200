"""Initialisation of the student's VGG-19 layers (conv1_1 .. conv4_2) from ImageNet weights.

OpenPose and the paper's code start every network trained from scratch from ImageNet VGG-19
(DavHoffmann/LearningToTrainWithSyntheticHumans tf_pose/networks.py: `numpy/openpose_vgg19_10layers.npy`,
Caffe weights). The user supplies the file; two formats, chosen by suffix:
  .npz  arrays named "conv1_1/kernel" (HWIO) and "conv1_1/bias", ... "conv4_2/..."; loaded with
        allow_pickle=False, since a weights file is data and must never run code. RGB input unless
        the file holds `channel_order` = "bgr" (weights converted from Caffe).
  .h5   the Keras file vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5: one group per layer
        (block{b}_conv{c} -> conv{b}_{c}) whose `weight_names` attribute lists kernel (HWIO) then
        bias; the names are paths relative to the layer group (standard Keras 2) or to a nested group
        of the same name. A whole-model file with a top-level `model_weights` group works too. Keras'
        VGG-19 is Caffe's, trained on BGR input ("caffe" preprocessing).
This network is fed RGB, so weights trained on BGR get conv1_1's input channels reversed on loading.
The input scale stays x / 256 - 0.5, not Caffe's mean-subtracted 0-255, as in OpenPose's own training
from these weights.

Only conv1_1 .. conv4_2 are copied; conv4_3_CPM, conv4_4_CPM and the stages keep their init, and the
width of the model must be 1 (shapes are checked). `init_backbone` is what training calls: configs
that train the paper's networks from scratch require a file (model.vgg_required) unless
model.vgg_weights is "scratch".
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import flax.core
import jax.numpy as jnp
import numpy as np

from ltsh_jax import paths
from ltsh_jax.models.openpose import VGG_LAYERS

VGG_NAMES: tuple[str, ...] = tuple(name for name, _, _ in VGG_LAYERS)
SCRATCH = "scratch"  # model.vgg_weights value: random initialisation, on purpose
CHANNEL_ORDERS = ("rgb", "bgr")
FORMATS = (
    "the Keras file vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5 (BGR, as Keras ships it) or an .npz of "
    "HWIO arrays 'conv1_1/kernel', 'conv1_1/bias', ... 'conv4_2/bias' (RGB unless it holds channel_order='bgr')"
)
MISSING = (
    "this config trains the student from ImageNet VGG-19 weights, as OpenPose and the paper's code do, and none "
    f"were given. Formats: {FORMATS}. Put the file anywhere and pass its path: --config.model.vgg_weights=PATH "
    "(experiments.train) or --vgg_weights=PATH (experiments.reproduce); or model.vgg_weights=scratch "
    "(--vgg_weights=scratch) to train from random initialisation on purpose"
)


def keras_layer_name(name: str) -> str:
    """conv{b}_{c} -> block{b}_conv{c}, the Keras VGG19 layer name."""
    block, conv = name.removeprefix("conv").split("_")
    return f"block{block}_conv{conv}"


def _read_npz(path: str) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], str]:
    with np.load(path, allow_pickle=False) as data:
        order = str(data["channel_order"]).lower() if "channel_order" in data.files else "rgb"
        if order not in CHANNEL_ORDERS:
            raise ValueError(f"{path}: channel_order must be one of {CHANNEL_ORDERS}, got {order!r}")
        weights = {}
        for name in VGG_NAMES:
            for part in ("kernel", "bias"):
                if f"{name}/{part}" not in data.files:
                    raise ValueError(f"{path}: layer {name} has no array '{name}/{part}'")
            weights[name] = (np.asarray(data[f"{name}/kernel"]), np.asarray(data[f"{name}/bias"]))
    return weights, order


def _read_h5(path: str) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], str]:
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
    return weights, "bgr"


def load_vgg19_weights(params: Mapping[str, Any], path: str | os.PathLike) -> Any:
    """Returns a copy of `params` (the model's 'params' collection) with backbone/conv1_1 .. conv4_2
    replaced by the file's weights; `params` itself is not modified.

    Weights trained on BGR input (the format says so) get conv1_1's input channels reversed, since
    this network is fed RGB. Raises FileNotFoundError for a missing file and ValueError, naming the
    file and the layer, for an unknown suffix, a missing layer, a shape mismatch (e.g. a width != 1
    model) or non-finite values.
    """
    path = check_weights_file(path)
    weights, order = _read_npz(path) if path.lower().endswith(".npz") else _read_h5(path)
    if order == "bgr":
        kernel, bias = weights["conv1_1"]
        weights["conv1_1"] = (kernel[:, :, ::-1, :], bias)
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


def check_weights_file(path: str | os.PathLike) -> str:
    """The path as a string; FileNotFoundError / ValueError (naming the formats) unless it is a weights file;
    paths.UnsupportedPathError for a cloud URI (numpy and h5py open the file by its local name)."""
    path = os.fspath(paths.require_local(path, "the VGG-19 weights file", "numpy and h5py open it by local name"))
    if not os.path.isfile(path):
        raise FileNotFoundError(f"VGG-19 weights file not found: {path} (formats: {FORMATS})")
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in (".npz", ".h5", ".hdf5"):
        raise ValueError(f"{path}: unknown VGG-19 weights format '{suffix}': expected {FORMATS}")
    return path


def check_backbone_init(vgg_weights: str, *, required: bool) -> None:
    """Raises before any training when the backbone's initialisation cannot be what the config asks.

    vgg_weights: a weights file, "scratch" (random initialisation on purpose) or "" (random
    initialisation, an error when `required`: the paper's from-scratch rows).
    """
    if vgg_weights == SCRATCH:
        return
    if not vgg_weights:
        if required:
            raise ValueError(MISSING)
        return
    check_weights_file(vgg_weights)


def init_backbone(params: Mapping[str, Any], vgg_weights: str, *, required: bool) -> Any:
    """params with the VGG layers loaded from `vgg_weights`; unchanged for "scratch" and "" (check_backbone_init)."""
    check_backbone_init(vgg_weights, required=required)
    if vgg_weights in ("", SCRATCH):
        return params
    return load_vgg19_weights(params, vgg_weights)
