"""The CPU-friendly convolution and pooling forms compute what lax.conv and nn.max_pool compute.

Parity of values and gradients (tight float32 tolerances), a numpy reference of the weight-gradient
GEMM, the `Conv` module's init against `nn.Conv`, the whole student under both conv_impl settings,
and frozen layers behind stop_gradient in the loss.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from experiments.configs.common import FREEZE_FIRST_FOUR, base_config
from ltsh_jax.models import conv
from ltsh_jax.models.openpose import Conv, OpenPose, build_model, get_skeleton, init_params
from ltsh_jax.people import People
from ltsh_jax.train.optim import param_path
from ltsh_jax.train.step import make_loss_fn


def _rand(seed, *shape):
    return jnp.asarray(np.random.default_rng(seed).normal(size=shape).astype(np.float32))


def _max_rel(a, b):
    return float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b)))


@pytest.mark.parametrize("h,w", [(8, 6), (7, 5)])
def test_reshape_max_pool_matches_nn_max_pool_values_and_gradients(h, w):
    x = _rand(0, 2, h, w, 3)  # continuous values: no ties, so the gradient is unique
    ref = lambda x: nn.max_pool(x, (2, 2), strides=(2, 2), padding="SAME")  # noqa: E731
    np.testing.assert_array_equal(conv.max_pool_2x2(x), ref(x))
    assert conv.max_pool_2x2(x).shape == (2, -(-h // 2), -(-w // 2), 3)
    dy = _rand(1, 2, -(-h // 2), -(-w // 2), 3)
    g = jax.vjp(conv.max_pool_2x2, x)[1](dy)[0]
    np.testing.assert_array_equal(g, jax.vjp(ref, x)[1](dy)[0])
    # Each output's gradient lands on exactly one input of its window.
    assert int((g != 0).sum()) == dy.size


@pytest.mark.parametrize("k", [1, 3, 5])
def test_wgrad_gemm_matches_numpy_reference(k):
    b, h, w, cin, cout = 2, 5, 6, 3, 4
    x, dy = np.asarray(_rand(2, b, h, w, cin)), np.asarray(_rand(3, b, h, w, cout))
    p = k // 2
    xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    # dW[i, j] = sum over batch and output positions of input(y + i, x + j) (outer) dy(y, x)
    ref = np.stack(
        [np.stack([np.einsum("byxc,byxo->co", xp[:, i : i + h, j : j + w], dy) for j in range(k)]) for i in range(k)]
    )
    got = conv.wgrad_gemm(jnp.asarray(x), jnp.asarray(dy), k)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("k", [1, 3, 7])
def test_gemm_conv_matches_lax_conv_forward_and_gradients(k, monkeypatch):
    # Small shapes: lower the thresholds so that the custom weight gradient really runs.
    monkeypatch.setattr(conv, "GEMM_MIN_POSITIONS", 0)
    monkeypatch.setattr(conv, "GEMM_MIN_CHANNELS", 0)
    x, kernel, dy = _rand(4, 2, 9, 11, 5), _rand(5, k, k, 5, 6) * 0.2, _rand(6, 2, 9, 11, 6)
    y_ref, vjp_ref = jax.vjp(lambda x, w: conv.conv2d(x, w, "xla"), x, kernel)
    y, vjp = jax.vjp(jax.jit(lambda x, w: conv.conv2d(x, w, "gemm")), x, kernel)
    assert _max_rel(y, y_ref) < 1e-6
    for g, g_ref in zip(vjp(dy), vjp_ref(dy), strict=True):
        assert g.shape == g_ref.shape
        assert _max_rel(g, g_ref) < 1e-5


def test_gemm_conv_keeps_xla_below_the_thresholds():
    x, kernel = _rand(7, 1, 4, 4, 2), _rand(8, 3, 3, 2, 2)
    jaxpr = str(jax.make_jaxpr(lambda x, w: conv.conv2d(x, w, "gemm"))(x, kernel))
    assert "custom_vjp" not in jaxpr and "conv_general_dilated" in jaxpr
    one = str(jax.make_jaxpr(lambda x, w: conv.conv2d(x, w, "gemm"))(x, _rand(9, 1, 1, 2, 2)))
    assert "dot_general" in one and "conv_general_dilated" not in one


def test_bad_conv_impl_and_kernel_are_clear_errors():
    with pytest.raises(ValueError, match="conv_impl='fast'"):
        conv.resolve_conv_impl("fast")
    assert conv.resolve_conv_impl("auto") == ("gemm" if jax.default_backend() == "cpu" else "xla")
    with pytest.raises(ValueError, match="odd square kernel"):
        conv.conv2d(_rand(0, 1, 4, 4, 2), _rand(1, 2, 2, 2, 2))
    with pytest.raises(ValueError, match="3 channels"):
        conv.conv2d(_rand(0, 1, 4, 4, 3), _rand(1, 3, 3, 2, 2))


@pytest.mark.parametrize("k", [1, 3])
def test_conv_module_has_the_params_and_outputs_of_nn_conv(k):
    x = _rand(10, 2, 6, 6, 3)
    ours, ref = Conv(4, k, impl="gemm"), nn.Conv(4, (k, k), padding="SAME")
    p_ours, p_ref = ours.init(jax.random.key(0), x), ref.init(jax.random.key(0), x)
    jax.tree_util.tree_map(np.testing.assert_array_equal, p_ours, p_ref)
    p_ref = jax.tree_util.tree_map(lambda a: a + 0.1, p_ref)  # non-zero bias
    np.testing.assert_allclose(ours.apply(p_ref, x), ref.apply(p_ref, x), rtol=1e-5, atol=1e-6)


def test_student_gives_the_same_outputs_and_gradients_with_both_conv_impls(monkeypatch):
    monkeypatch.setattr(conv, "GEMM_MIN_POSITIONS", 0)
    monkeypatch.setattr(conv, "GEMM_MIN_CHANNELS", 0)
    images = _rand(11, 2, 32, 24, 3) * 0.3
    models = {impl: OpenPose(width=1 / 16, num_stages=2, conv_impl=impl) for impl in ("xla", "gemm")}
    params = jax.jit(models["xla"].init)(jax.random.key(0), images)["params"]

    def loss(model, p):
        return sum(jnp.sum(jnp.sin(s.pafs)) + jnp.sum(s.heatmaps**2) for s in model.apply({"params": p}, images))

    results = {impl: jax.jit(jax.value_and_grad(lambda p, m=m: loss(m, p)))(params) for impl, m in models.items()}
    (l_ref, g_ref), (l_gemm, g_gemm) = results["xla"], results["gemm"]
    np.testing.assert_allclose(l_gemm, l_ref, rtol=1e-5)
    for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(g_gemm), jax.tree_util.tree_leaves(g_ref), strict=True):
        assert _max_rel(a, b) < 1e-4, param_path(path)


def _tiny_config(freeze: str) -> ml_collections.ConfigDict:
    config = base_config()
    config.model.width, config.model.num_stages, config.data.input_size = 1 / 16, 2, 32
    config.model.dtype = "float32"
    config.train.batch_size, config.data.max_people = 2, 2
    config.optim.freeze = freeze
    return config


def _random_batch(config: ml_collections.ConfigDict, num_parts: int) -> dict:
    """Random crops with up to max_people people each, in the train step's format (half of them synthetic)."""
    size, stride, b, p = config.data.input_size, config.data.stride, config.train.batch_size, config.data.max_people
    rng = np.random.default_rng(0)
    people = People(
        keypoints=rng.uniform(0, size, (b, p, num_parts, 2)).astype(np.float32),
        labelled=rng.uniform(size=(b, p, num_parts)) < 0.8,
        valid=rng.uniform(size=(b, p)) < 0.7,
        is_synthetic=np.zeros((b, p), bool),
    )
    ignore = np.zeros((b, size // stride, size // stride), np.uint8)
    ignore[:, :1, :1] = 1
    image = rng.integers(0, 256, (b, size, size, 3), dtype=np.uint8)
    return dict(image=image, people=people, ignore_mask=ignore, is_synthetic=np.arange(b) >= b // 2)


def test_frozen_layers_get_zero_gradient_and_the_rest_is_unchanged():
    plain, frozen = _tiny_config(""), _tiny_config(FREEZE_FIRST_FOUR)
    skeleton = get_skeleton(plain)
    model = build_model(plain, skeleton)
    params = init_params(model, plain, jax.random.key(0))
    batch = jax.tree_util.tree_map(jnp.asarray, _random_batch(plain, skeleton.num_parts))
    (l0, _), g0 = jax.jit(jax.value_and_grad(make_loss_fn(model, plain, skeleton), has_aux=True))(params, batch)
    (l1, _), g1 = jax.jit(jax.value_and_grad(make_loss_fn(model, frozen, skeleton), has_aux=True))(params, batch)
    assert float(l1) == pytest.approx(float(l0), rel=1e-6)
    n_frozen = 0
    for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(g1), jax.tree_util.tree_leaves(g0), strict=True):
        name = param_path(path)
        if name.startswith(("backbone/conv1_", "backbone/conv2_")):
            n_frozen += 1
            assert not np.asarray(a).any(), name
            assert np.asarray(b).any(), name
        else:
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7 * float(jnp.abs(b).max()), err_msg=name)
    assert n_frozen == 8


def test_cpu_xla_flags_are_appended_once_and_keep_the_users_choice():
    from ltsh_jax.cpu_flags import CPU_XLA_FLAGS, apply_cpu_xla_flags

    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=8"}
    assert apply_cpu_xla_flags(env).split() == ["--xla_force_host_platform_device_count=8", *CPU_XLA_FLAGS]
    assert apply_cpu_xla_flags(env).split() == ["--xla_force_host_platform_device_count=8", *CPU_XLA_FLAGS]
    own = {"XLA_FLAGS": "--xla_cpu_experimental_ynn_fusion_type=individual_dot"}
    assert apply_cpu_xla_flags(own) == "--xla_cpu_experimental_ynn_fusion_type=individual_dot"
    assert apply_cpu_xla_flags({}) == " ".join(CPU_XLA_FLAGS)
    off = {"LTSH_NO_CPU_XLA_FLAGS": "1"}
    assert apply_cpu_xla_flags(off) == "" and "XLA_FLAGS" not in off
