"""Writes the dummy manual_dirs of mpii_multiperson, in both annotation formats, from one table of people.

    python -m data_builders.mpii_multiperson.dummy_data.make_dummy_data

mat/:  images/*.jpg, mpii_human_pose_v1_u12_1.mat (the official RELEASE structure, written with
       scipy.io.savemat: annolist with image.name and annorect x1 y1 x2 y2 / objpos / scale /
       annopoints.point id x y is_visible; img_train; single_person), unannotated_masks/000000003.png.
       It also holds what the real file has: a test image (img_train 0) without annorect or frame, a
       rectangle without annopoints, is_visible as number (double or uint8), string, [] or '', integer
       point ids, single rectangles that scipy squeezes, and the fields the reader ignores: act
       (act_name, cat_name, act_id, -1 when unknown), video_list, annolist frame_sec and vididx.
json/: images/*.jpg, train.json (images 1-4) and valid.json (5-6) as HRNet ships them.
Coordinates in the table are MPII's (1-based). Everything is seeded and the .mat header has no
date, so a rerun rewrites identical files (given the same numpy, scipy and Pillow).
"""

from __future__ import annotations

import json
import pathlib

import numpy as np
import scipy.io
from PIL import Image

HERE = pathlib.Path(__file__).resolve().parent
# image name -> (width, height, indices of single-person rectangles (1-based, .mat only), number of people)
IMAGES = {
    "000000001.jpg": (96, 64, (), 2),
    "000000002.jpg": (96, 64, (1,), 1),
    "000000003.jpg": (80, 60, (1,), 3),
    "000000004.jpg": (96, 64, (), 2),
    "000000005.jpg": (64, 80, (1,), 1),
    "000000006.jpg": (96, 64, (), 2),
}
TEST_IMAGE = "000000007.jpg"  # img_train = 0 in the .mat; no file, never read
UNANNOTATED_RECT_IMAGE = "000000003.jpg"  # also gets a rectangle without annopoints and a mask


def people_table() -> dict[str, list[dict]]:
    """Per image, its people: joints [16, 2] (1-based), labelled [16], visible [16], center, scale, head box."""
    rng = np.random.default_rng(2019)
    table = {}
    for name, (width, height, _, count) in IMAGES.items():
        people = []
        for _ in range(count):
            joints = np.round(rng.uniform([1, 1], [width, height], size=(16, 2)), 4)
            labelled = rng.random(16) > 0.15
            labelled[[8, 9]] = True  # head top and upper neck, for the JSON head box
            visible = labelled & (rng.random(16) > 0.2)
            center = np.round(joints[labelled].mean(0), 2)
            x1, y1 = np.round(rng.uniform(1, [width / 2, height / 2]), 1)
            people.append(
                dict(
                    joints=joints,
                    labelled=labelled,
                    visible=visible,
                    center=center,
                    scale=float(np.round(rng.uniform(0.2, 0.5), 6)),
                    head_box=(float(x1), float(y1), float(x1 + 10), float(y1 + 12)),
                )
            )
        table[name] = people
    return table


def _images(folder: pathlib.Path) -> None:
    rng = np.random.default_rng(7)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    for name, (width, height, _, _) in IMAGES.items():
        pixels = (rng.random((height // 8, width // 8, 3)) * 255).astype(np.uint8)
        image = Image.fromarray(pixels).resize((width, height), Image.Resampling.BILINEAR)
        image.save(folder / "images" / name, format="JPEG", quality=75)


def _structs(items: list[dict], fields: tuple[str, ...]) -> np.ndarray:
    """A 1 x N Matlab struct array; fields missing from an item are empty ([])."""
    out = np.empty((1, len(items)), dtype=[(f, object) for f in fields])
    for i, item in enumerate(items):
        for f in fields:
            out[0, i][f] = item.get(f, np.zeros((0, 0)))
    return out


def _is_visible(visible: bool, joint: int, k: int) -> object:
    """MPII stores is_visible as a number, a string, or nothing ([] or '', mostly for head joints)."""
    if joint in (8, 9) and k % 2 == 0:
        return np.zeros((0, 0)) if k % 4 == 0 else ""
    return ("1" if visible else "0") if k % 3 == 0 else (np.uint8(visible) if k % 3 == 1 else int(visible))


def _rect(person: dict, k: int) -> dict:
    points = [
        dict(
            id=np.uint8(j) if k % 2 else j,
            x=float(person["joints"][j, 0]),
            y=float(person["joints"][j, 1]),
            is_visible=_is_visible(v, j, k),
        )
        for j, v in enumerate(person["visible"])
        if person["labelled"][j]
    ]
    x1, y1, x2, y2 = person["head_box"]
    return dict(
        x1=x1,
        y1=y1,
        x2=x2,
        y2=y2,
        annopoints=_structs([dict(point=_structs(points, ("id", "x", "y", "is_visible")))], ("point",)),
        objpos=_structs([dict(x=float(person["center"][0]), y=float(person["center"][1]))], ("x", "y")),
        scale=person["scale"],
    )


def write_mat(folder: pathlib.Path, table: dict[str, list[dict]]) -> None:
    rect_fields = ("x1", "y1", "x2", "y2", "annopoints", "objpos", "scale")
    entries, img_train, single_person = [], [], []
    for k, (name, (_, _, singles, _)) in enumerate(IMAGES.items()):
        rects = [_rect(p, k + r) for r, p in enumerate(table[name])]
        if name == UNANNOTATED_RECT_IMAGE:
            rects.append(dict(objpos=_structs([dict(x=40.0, y=30.0)], ("x", "y")), scale=0.3))
        entries.append(dict(image=_structs([dict(name=name)], ("name",)), annorect=_structs(rects, rect_fields),
                            frame_sec=float(k + 1), vididx=k % 2 + 1))  # fmt: skip
        img_train.append(1)
        single_person.append(np.asarray(singles, np.float64).reshape(-1, 1))
    entries.append(dict(image=_structs([dict(name=TEST_IMAGE)], ("name",)), annorect=np.zeros((0, 0))))  # no frame
    img_train.append(0)
    single_person.append(np.zeros((0, 0)))
    cells = np.empty((len(single_person), 1), dtype=object)
    cells[:, 0] = single_person
    acts = [dict(act_name="", cat_name="", act_id=-1) if k % 3 else
            dict(act_name="curling", cat_name="sports", act_id=1) for k in range(len(entries))]  # fmt: skip
    videos = np.empty((1, 2), dtype=object)
    videos[0, :] = ["aAOusnrSsHI", "nAbd2WkqsbA"]
    release = dict(
        annolist=_structs(entries, ("image", "annorect", "frame_sec", "vididx")),
        img_train=np.asarray([img_train], np.float64),
        version="12",
        single_person=cells,
        act=_structs(acts, ("act_name", "cat_name", "act_id")).T,  # N x 1, as in the release
        video_list=videos,
    )
    path = folder / "mpii_human_pose_v1_u12_1.mat"
    scipy.io.savemat(path, {"RELEASE": _structs([release], tuple(release))}, do_compression=False)
    data = bytearray(path.read_bytes())  # the 116-byte text header carries the date: make it fixed
    data[:116] = b"MATLAB 5.0 MAT-file, written by make_dummy_data.py".ljust(116)
    path.write_bytes(bytes(data))
    mask = np.zeros((60, 80), np.uint8)
    mask[20:40, 30:50] = 255
    (folder / "unannotated_masks").mkdir(exist_ok=True)
    Image.fromarray(mask, mode="L").save(folder / "unannotated_masks" / "000000003.png")


def json_records(table: dict[str, list[dict]], names: list[str]) -> list[dict]:
    """HRNet-style records: missing joints [-1, -1] with joints_vis 0."""
    records = []
    for name in names:
        for p in table[name]:
            joints = np.where(p["labelled"][:, None], p["joints"], -1.0)
            records.append(
                dict(
                    joints_vis=[int(v) for v in p["labelled"]],
                    joints=joints.tolist(),
                    image=name,
                    scale=p["scale"],
                    center=p["center"].tolist(),
                )
            )
    return records


def write_json(folder: pathlib.Path, table: dict[str, list[dict]]) -> None:
    names = list(IMAGES)
    (folder / "train.json").write_text(json.dumps(json_records(table, names[:4]), indent=1))
    (folder / "valid.json").write_text(json.dumps(json_records(table, names[4:]), indent=1))


def main() -> None:
    table = people_table()
    for fmt, write in (("mat", write_mat), ("json", write_json)):
        _images(HERE / fmt)
        write(HERE / fmt, table)


if __name__ == "__main__":
    main()
