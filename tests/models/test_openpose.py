"""Tests of the OpenPose student: parameter count and naming, width / stages, shapes, dtypes."""

import re

import flax.core
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ltsh_jax.models.openpose import OpenPose, StageOutput, normalise_images

TINY = 1 / 16


def _count(params) -> int:
    """Scalars in a parameter tree (arrays or ShapeDtypeStructs)."""
    return sum(int(np.prod(leaf.shape)) for leaf in jax.tree_util.tree_leaves(params))


def test_normalise_images_maps_pixels_to_minus_half_to_half():
    pixels = np.array([[0, 64, 128, 255]], np.uint8)
    out = normalise_images(pixels)
    assert out.dtype == jnp.float32
    np.testing.assert_array_equal(out, [[-0.5, -0.25, 0.0, 255 / 256 - 0.5]])  # x / 256 - 0.5 by hand
    # decode.maps pads with grey 128.0, which the network saw as 128 / 256 - 0.5 = 0 before and after
    assert float(normalise_images(128.0)) == 128.0 / 256.0 - 0.5 == 0.0


def ch(c, width):
    return max(1, round(c * width))


def expected_layers(width=1.0, num_stages=6, num_pafs=28, num_heatmaps=16):
    """(kernel, cin, cout) of every conv, written from the paper's layer list independently of the model."""
    w = lambda c: ch(c, width)
    vgg = [64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 256, 128]  # conv1_1 .. conv4_2, conv4_3_CPM, conv4_4_CPM
    layers, cin = [], 3
    for c in vgg:
        layers.append((3, cin, w(c)))
        cin = w(c)
    features = cin
    for out in (num_pafs, num_heatmaps):  # stage 1: L1, L2
        layers += [
            (3, features, w(128)),
            (3, w(128), w(128)),
            (3, w(128), w(128)),
            (1, w(128), w(512)),
            (1, w(512), out),
        ]
    for _ in range(num_stages - 1):
        for out in (num_pafs, num_heatmaps):
            stage_in = features + num_pafs + num_heatmaps
            layers += [(7, stage_in, w(128))] + [(7, w(128), w(128))] * 4 + [(1, w(128), w(128)), (1, w(128), out)]
    return layers


def expected_count(**kwargs):
    return sum(k * k * cin * cout + cout for k, cin, cout in expected_layers(**kwargs))


def abstract_params(model, size=368):
    images = jax.ShapeDtypeStruct((1, size, size, 3), jnp.float32)
    return jax.eval_shape(model.init, jax.random.key(0), images)["params"]


@pytest.fixture(scope="module")
def tiny():
    """One real init of a tiny 2-stage model, shared by the tests (params do not depend on image size).

    The "rbg" key keeps XLA's compile of the initialisers short on a small CPU (threefry takes ~4x longer).
    """
    model = OpenPose(width=TINY, num_stages=2)
    params = jax.jit(model.init)(jax.random.key(0, impl="rbg"), jnp.zeros((1, 32, 32, 3)))["params"]
    return model, params


def paths(params):
    flat = jax.tree_util.tree_flatten_with_path(params)[0]
    return {"/".join(k.key for k in path): leaf.shape for path, leaf in flat}


def test_paper_size_parameter_count_and_names():
    params = abstract_params(OpenPose())
    assert _count(params) == expected_count() == 51_481_032
    shapes = paths(params)
    assert shapes["backbone/conv1_1/kernel"] == (3, 3, 3, 64)
    assert shapes["backbone/conv4_2/kernel"] == (3, 3, 512, 512)
    assert shapes["backbone/conv4_2/bias"] == (512,)
    assert shapes["backbone/conv4_4_CPM/kernel"] == (3, 3, 256, 128)
    assert shapes["stage1/L1/conv4/kernel"] == (1, 1, 128, 512)
    assert shapes["stage1/L1/conv5/kernel"] == (1, 1, 512, 28)
    assert shapes["stage1/L2/conv5/kernel"] == (1, 1, 512, 16)
    assert shapes["stage2/L1/conv1/kernel"] == (7, 7, 128 + 28 + 16, 128)
    assert shapes["stage6/L2/conv7/kernel"] == (1, 1, 128, 16)
    assert "stage7/L1/conv1/kernel" not in shapes
    backbone = {p.split("/")[1] for p in shapes if p.startswith("backbone/")}
    vgg = {f"conv{b}_{c}" for b, n in ((1, 2), (2, 2), (3, 4), (4, 2)) for c in range(1, n + 1)}
    assert backbone == vgg | {"conv4_3_CPM", "conv4_4_CPM"}
    # The freeze regex of the training script: the first 4 conv layers.
    frozen = [p for p in shapes if re.match(r"backbone/conv(1_[12]|2_[12])/", p)]
    assert len(frozen) == 8


@pytest.mark.parametrize("width,num_stages", [(TINY, 2), (TINY, 3), (0.5, 1), (0.25, 6)])
def test_width_and_stages_change_count_as_the_formula_says(width, num_stages):
    params = abstract_params(OpenPose(width=width, num_stages=num_stages), size=64)
    assert _count(params) == expected_count(width=width, num_stages=num_stages)
    assert {k for k in params if k.startswith("stage")} == {f"stage{t}" for t in range(1, num_stages + 1)}


def test_tiny_model_real_init(tiny):
    model, params = tiny
    abstract = abstract_params(model, size=32)
    assert jax.tree_util.tree_structure(params) == jax.tree_util.tree_structure(abstract)
    assert _count(params) == expected_count(width=TINY, num_stages=2)
    assert paths(params) == paths(abstract)
    flat = {"/".join(k.key for k in p): v for p, v in jax.tree_util.tree_flatten_with_path(params)[0]}
    for path, value in flat.items():
        assert value.dtype == jnp.float32
        if path.endswith("bias"):
            assert not value.any(), path
        else:
            assert 0 < float(jnp.std(value)) < 1, path


def test_tiny_model_shapes_stride_8_and_float32_outputs(tiny):
    model, params = tiny
    outputs = jax.jit(model.apply)({"params": params}, jax.random.uniform(jax.random.key(1), (2, 64, 48, 3)) - 0.5)
    assert len(outputs) == 2
    for out in outputs:
        assert isinstance(out, StageOutput)
        assert out.pafs.shape == (2, 8, 6, 28) and out.pafs.dtype == jnp.float32
        assert out.heatmaps.shape == (2, 8, 6, 16) and out.heatmaps.dtype == jnp.float32
    # No ReLU on the output layer: predictions take both signs.
    assert (outputs[-1].pafs < 0).any() and (outputs[-1].pafs > 0).any()
    # Non-multiples of 8 round up like Caffe's ceil-mode pooling.
    odd = jax.eval_shape(model.apply, {"params": params}, jax.ShapeDtypeStruct((1, 36, 44, 3), jnp.float32))
    assert odd[0].heatmaps.shape == (1, 5, 6, 16)


def test_later_stages_read_previous_predictions(tiny):
    model, params = tiny
    images = jax.random.uniform(jax.random.key(1), (1, 32, 32, 3)) - 0.5
    apply = jax.jit(model.apply)
    base = apply({"params": params}, images)
    bumped = jax.tree_util.tree_map(lambda x: x, params)
    bumped["stage1"]["L1"]["conv5"]["bias"] = params["stage1"]["L1"]["conv5"]["bias"] + 1.0
    out = apply({"params": bumped}, images)
    np.testing.assert_array_equal(out[0].heatmaps, base[0].heatmaps)  # other branch untouched
    np.testing.assert_allclose(out[0].pafs, base[0].pafs + 1.0, rtol=1e-6, atol=1e-6)
    assert not np.allclose(out[1].heatmaps, base[1].heatmaps)  # stage 2 sees stage 1's PAFs


def reference_forward(params, images, num_stages):
    """The network written out plainly from the parameter tree: one lax.conv per layer, branch by branch."""

    def conv(x, layer, relu=True):
        k = layer["kernel"].shape[0]
        y = (
            jax.lax.conv_general_dilated(
                x, layer["kernel"], (1, 1), [(k // 2, k // 2)] * 2, dimension_numbers=("NHWC", "HWIO", "NHWC")
            )
            + layer["bias"]
        )
        return jax.nn.relu(y) if relu else y

    x = images
    for name in [
        "conv1_1",
        "conv1_2",
        "conv2_1",
        "conv2_2",
        "conv3_1",
        "conv3_2",
        "conv3_3",
        "conv3_4",
        "conv4_1",
        "conv4_2",
        "conv4_3_CPM",
        "conv4_4_CPM",
    ]:
        x = conv(x, params["backbone"][name])
        if name in ("conv1_2", "conv2_2", "conv3_4"):
            x = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "SAME")
    features, stage_in, outputs = x, x, []
    for t in range(1, num_stages + 1):
        branches = []
        for branch in ("L1", "L2"):
            layers = params[f"stage{t}"][branch]
            y = stage_in
            for i in range(1, len(layers) + 1):
                y = conv(y, layers[f"conv{i}"], relu=i < len(layers))
            branches.append(y)
        outputs.append(branches)
        stage_in = jnp.concatenate([features, *branches], axis=-1)
    return outputs


@pytest.mark.parametrize("conv_impl", ["xla", "gemm"])
def test_matches_a_plain_layer_by_layer_forward(tiny, conv_impl):
    """Stages run both branches' first convolutions as one; the numbers must be those of separate branches."""
    _, params = tiny
    model = OpenPose(width=TINY, num_stages=2, conv_impl=conv_impl)
    images = jax.random.uniform(jax.random.key(3), (2, 40, 32, 3)) - 0.5
    outputs = jax.jit(model.apply)({"params": params}, images)
    expected = jax.jit(reference_forward, static_argnums=2)(params, images, 2)
    for out, (pafs, heatmaps) in zip(outputs, expected, strict=True):
        np.testing.assert_allclose(out.pafs, pafs, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(out.heatmaps, heatmaps, rtol=1e-5, atol=1e-5)


def test_bfloat16_compute_matches_float32(tiny):
    f32, params = tiny
    images = jax.random.uniform(jax.random.key(1), (1, 32, 32, 3)) - 0.5
    bf16 = OpenPose(width=TINY, num_stages=2, dtype=jnp.bfloat16)
    bf16_params = abstract_params(bf16, size=32)
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree_util.tree_leaves(bf16_params))
    ref = jax.jit(f32.apply)({"params": params}, images)
    low = jax.jit(bf16.apply)({"params": params}, images)
    for a, b in zip(ref, low, strict=True):
        for x, y in ((a.pafs, b.pafs), (a.heatmaps, b.heatmaps)):
            assert y.dtype == jnp.float32
            scale = float(jnp.max(jnp.abs(x)))
            assert scale > 0
            assert float(jnp.max(jnp.abs(x - y))) <= 0.05 * scale
            assert not np.array_equal(x, y)  # the computation really ran in bfloat16


def test_rejects_images_without_three_channels():
    with pytest.raises(ValueError, match="images"):
        jax.eval_shape(
            OpenPose(width=TINY, num_stages=1).init,
            jax.random.key(0),
            jax.ShapeDtypeStruct((1, 32, 32, 1), jnp.float32),
        )


# --- VGG-19 ImageNet weights -------------------------------------------------------------------------------------

VGG = ("conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3", "conv3_4", "conv4_1", "conv4_2")


def random_params(width=TINY, seed=0):
    """Concrete params of the right shapes without running the initialisers (fast)."""
    rng = np.random.default_rng(seed)
    abstract = abstract_params(OpenPose(width=width, num_stages=2), size=32)
    return jax.tree_util.tree_map(lambda s: jnp.asarray(rng.normal(size=s.shape), jnp.float32), abstract)


def file_weights(params, seed=1):
    """Arrays a weights file would hold for the model's VGG layers (different values from params)."""
    rng = np.random.default_rng(seed)
    return {
        name: {
            part: rng.normal(size=params["backbone"][name][part].shape).astype(np.float32)
            for part in ("kernel", "bias")
        }
        for name in VGG
    }


def write_h5(path, weights, layout):
    import h5py

    with h5py.File(path, "w") as f:
        root = f.create_group("model_weights") if layout == "model_weights" else f
        layer_names = ["input_1"] + [f"block{n[4]}_conv{n[6]}" for n in weights] + ["block4_pool"]
        root.attrs["layer_names"] = [n.encode() for n in layer_names]
        root.create_group("input_1").attrs["weight_names"] = np.array([], dtype="S1")
        root.create_group("block4_pool").attrs["weight_names"] = np.array([], dtype="S1")
        for name, arrays in weights.items():
            layer = f"block{name[4]}_conv{name[6]}"
            group = root.create_group(layer)
            if layout == "flat":  # datasets directly in the layer group
                names, holder = ["kernel:0", "bias:0"], group
            elif layout == "nested_short":  # short names resolved in a nested group of the same name
                names, holder = ["kernel:0", "bias:0"], group.create_group(layer)
            else:  # standard Keras 2: names are paths relative to the layer group
                names, holder = [f"{layer}/kernel:0", f"{layer}/bias:0"], group
            group.attrs["weight_names"] = [n.encode() for n in names]
            holder.create_dataset(names[0], data=arrays["kernel"])
            holder.create_dataset(names[1], data=arrays["bias"])


def assert_loaded(before, after, weights):
    flat_before = {"/".join(k.key for k in p): v for p, v in jax.tree_util.tree_flatten_with_path(before)[0]}
    flat_after = {"/".join(k.key for k in p): v for p, v in jax.tree_util.tree_flatten_with_path(after)[0]}
    assert flat_before.keys() == flat_after.keys()
    for path, value in flat_after.items():
        parts = path.split("/")
        if parts[0] == "backbone" and parts[1] in VGG:
            expected = weights[parts[1]][parts[2]]
            assert value.dtype == jnp.float32
            np.testing.assert_array_equal(np.asarray(value), expected)
            assert not np.array_equal(np.asarray(flat_before[path]), expected)
        else:
            np.testing.assert_array_equal(np.asarray(value), np.asarray(flat_before[path]))


def test_load_vgg_npz_copies_only_vgg_layers_and_never_mutates(tmp_path):
    from ltsh_jax.models.vgg_weights import load_vgg19_weights

    params = random_params()
    snapshot = jax.tree_util.tree_map(np.array, params)
    weights = file_weights(params)
    path = tmp_path / "vgg.npz"
    extra = {"conv5_1/kernel": np.zeros((3, 3, 32, 32), np.float32)}  # layers beyond conv4_2 are ignored
    np.savez(path, **{f"{n}/{p}": a for n, arrays in weights.items() for p, a in arrays.items()}, **extra)
    loaded = load_vgg19_weights(params, path)
    assert_loaded(snapshot, loaded, weights)
    jax.tree_util.tree_map(np.testing.assert_array_equal, params, snapshot)  # input untouched
    frozen = load_vgg19_weights(flax.core.freeze(params), path)
    assert isinstance(frozen, flax.core.FrozenDict)
    assert_loaded(snapshot, frozen.unfreeze(), weights)


@pytest.mark.parametrize("layout", ["keras2", "nested_short", "flat", "model_weights"])
def test_load_vgg_keras_h5(tmp_path, layout):
    from ltsh_jax.models.vgg_weights import load_vgg19_weights

    params = random_params()
    snapshot = jax.tree_util.tree_map(np.array, params)
    weights = file_weights(params)
    path = tmp_path / "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
    write_h5(path, weights, layout)
    as_rgb = dict(weights, conv1_1=dict(weights["conv1_1"], kernel=weights["conv1_1"]["kernel"][:, :, ::-1]))
    assert_loaded(snapshot, load_vgg19_weights(params, path), as_rgb)  # Keras' VGG is BGR: see the test below
    jax.tree_util.tree_map(np.testing.assert_array_equal, params, snapshot)


@pytest.mark.parametrize("fmt", ["keras_h5", "npz_bgr", "npz_rgb", "npz"])
def test_bgr_weights_get_conv1_1_input_channels_reversed(tmp_path, fmt):
    """Caffe/Keras VGG-19 sees BGR; this network is fed RGB. A conv1_1 filter that reads only the file's
    input channel 0 (blue, in BGR) must read only channel 2 (blue, in RGB) once loaded."""
    from ltsh_jax.models.vgg_weights import load_vgg19_weights

    params = random_params()
    weights = file_weights(params)
    kernel = np.zeros_like(weights["conv1_1"]["kernel"])  # [3, 3, 3, C]: HWIO
    kernel[1, 1, 0, 0] = 1.0  # filter 0: the centre pixel of input channel 0
    kernel[:, :, 1, 1] = 2.0  # filter 1: channel 1 (green in both orders)
    weights["conv1_1"]["kernel"] = kernel
    arrays = {f"{n}/{p}": a for n, parts in weights.items() for p, a in parts.items()}
    if fmt == "keras_h5":
        path = tmp_path / "vgg19.h5"
        write_h5(path, weights, "keras2")
    else:
        path = tmp_path / "vgg19.npz"
        order = {"npz_bgr": {"channel_order": np.array("BGR")}, "npz_rgb": {"channel_order": np.array("rgb")}}
        np.savez(path, **arrays, **order.get(fmt, {}))
    loaded = np.asarray(load_vgg19_weights(params, path)["backbone"]["conv1_1"]["kernel"])
    blue = 2 if fmt in ("keras_h5", "npz_bgr") else 0
    assert loaded[1, 1, blue, 0] == 1.0 and np.count_nonzero(loaded[..., 0]) == 1
    assert (loaded[:, :, 1, 1] == 2.0).all() and np.count_nonzero(loaded[..., 1]) == 9
    np.testing.assert_array_equal(  # only conv1_1 changes
        np.asarray(load_vgg19_weights(params, path)["backbone"]["conv1_2"]["kernel"]), weights["conv1_2"]["kernel"]
    )


def test_bad_channel_order_is_named(tmp_path):
    from ltsh_jax.models.vgg_weights import load_vgg19_weights

    params = random_params()
    arrays = {f"{n}/{p}": a for n, parts in file_weights(params).items() for p, a in parts.items()}
    np.savez(tmp_path / "vgg.npz", **arrays, channel_order=np.array("bgra"))
    with pytest.raises(ValueError, match="channel_order"):
        load_vgg19_weights(params, tmp_path / "vgg.npz")


def test_init_backbone_requires_weights_unless_scratch(tmp_path):
    from ltsh_jax.models.vgg_weights import init_backbone

    params = random_params()
    with pytest.raises(ValueError, match=r"\.h5.*\.npz.*--config\.model\.vgg_weights=PATH.*scratch"):
        init_backbone(params, "", required=True)
    assert init_backbone(params, "scratch", required=True) is params
    assert init_backbone(params, "", required=False) is params
    with pytest.raises(FileNotFoundError, match="formats"):
        init_backbone(params, str(tmp_path / "missing.h5"), required=True)


def test_load_vgg_errors_name_the_file_and_layer(tmp_path):
    from ltsh_jax.models.vgg_weights import load_vgg19_weights

    params = random_params()
    weights = file_weights(params)
    missing = tmp_path / "nope.npz"
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
        load_vgg19_weights(params, missing)

    other = tmp_path / "vgg.pkl"
    other.write_bytes(b"not data")
    with pytest.raises(ValueError, match="unknown"):
        load_vgg19_weights(params, other)

    # A file for a width 1/16 model does not fit a width 1/8 model: the first layer is named.
    path = tmp_path / "vgg.npz"
    np.savez(path, **{f"{n}/{p}": a for n, arrays in weights.items() for p, a in arrays.items()})
    with pytest.raises(ValueError, match=f"{re.escape(str(path))}.*conv1_1 kernel.*shape"):
        load_vgg19_weights(random_params(width=1 / 8), path)

    partial = tmp_path / "partial.npz"
    np.savez(partial, **{f"{n}/{p}": a for n, arrays in weights.items() if n != "conv3_2" for p, a in arrays.items()})
    with pytest.raises(ValueError, match=f"{re.escape(str(partial))}.*conv3_2"):
        load_vgg19_weights(params, partial)

    h5 = tmp_path / "partial.h5"
    write_h5(h5, {n: a for n, a in weights.items() if n != "conv4_2"}, "keras2")
    with pytest.raises(ValueError, match=f"{re.escape(str(h5))}.*conv4_2.*block4_conv2"):
        load_vgg19_weights(params, h5)

    bad = {n: dict(a) for n, a in weights.items()}
    bad["conv2_1"]["bias"] = bad["conv2_1"]["bias"].copy()
    bad["conv2_1"]["bias"][0] = np.nan
    nan_path = tmp_path / "nan.npz"
    np.savez(nan_path, **{f"{n}/{p}": a for n, arrays in bad.items() for p, a in arrays.items()})
    with pytest.raises(ValueError, match=f"{re.escape(str(nan_path))}.*conv2_1 bias.*NaN"):
        load_vgg19_weights(params, nan_path)
