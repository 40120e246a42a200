"""experiments.predict: people of any size found in a real photo, and the binary end to end on a folder.

(a) A stand-in 'perfect network' that, like a trained one, only knows people near the training size: for each
input it is shown it returns the training targets of the photo's annotated COCO people whose height there is
within a factor sqrt(2) of the training height (target_scale x 200 px), and nothing for the others. The photo
at its own size and resized 2x and 0.5x must give the annotated people on their joints: the scale search
is relative to each photo's height (CMU's rule: heights 0.5, 1, 1.5, 2 x the training box), so it shows
every version to the network at the same sizes. Shown at its own pixels the 0.5x photo has no one of the
training size, and --people_height brings them back.
(b) The binary on a barely trained run over two real photos, a truncated JPEG, a text file named .png and a
.txt: the JSON files parse with one entry per decoded photo, overlays exist, the two bad files are named
and counted.
"""

from __future__ import annotations

import json
import subprocess
import sys

import jax
import numpy as np
import pytest
from PIL import Image

from ltsh_jax.evaluation import mpii_json_io, run
from ltsh_jax.evaluation.predict_images import (
    PhotoSettings,
    TrainingSize,
    coco_image_ids,
    list_images,
    overlay_names,
    predict_photo,
    read_photo,
)
from ltsh_jax.models.openpose import StageOutput
from ltsh_jax.people import People
from ltsh_jax.skeleton import COCO17
from ltsh_jax.train.targets import build_targets
from tests.paths import REAL_SAMPLES, REPO

PAPER = TrainingSize(input_size=368, target_scale=1.25, stride=8)  # the paper's configs: 250 px people, 368 crops
SEEN = np.sqrt(2.0)  # the stand-in finds people within this factor of the training height
CMU_SEARCH = (0.5, 1.0, 1.5, 2.0)  # ZheC testing/python/config `scale_search`
PHOTO = "000000197388.jpg"  # five skiers, 166-242 px tall in a 392 px photo
_build = jax.jit(build_targets, static_argnames=("skeleton", "input_size"))


def _coco_people(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(photo, keypoints [P, 17, 2], labelled [P, 17], heights [P]: box heights) of a COCO sample's people."""
    coco = json.loads((REAL_SAMPLES / "coco" / "test_coco.json").read_text())
    (image_id,) = [im["id"] for im in coco["images"] if im["file_name"] == name]
    people = [a for a in coco["annotations"] if a["image_id"] == image_id and a["num_keypoints"] >= 3]
    keypoints = np.array([a["keypoints"] for a in people], np.float32).reshape(len(people), 17, 3)
    with Image.open(REAL_SAMPLES / "coco" / name) as im:
        photo = np.asarray(im.convert("RGB"))
    # COCO's keypoints are pixel indices of the marked pixel: the pixel-centre convention used here
    return photo, keypoints[..., :2], keypoints[..., 2] > 0, np.array([a["bbox"][3] for a in people], np.float32)


def _resized(photo: np.ndarray, keypoints: np.ndarray, heights: np.ndarray, factor: float):
    h, w = photo.shape[:2]
    size = (round(w * factor), round(h * factor))
    image = np.asarray(Image.fromarray(photo).resize(size, Image.BILINEAR))
    f = np.array([size[0] / w, size[1] / h], np.float32)
    return image, (keypoints + 0.5) * f - 0.5, heights * f[1]


def size_limited_network(image_size, keypoints, labelled, heights, shown_heights):
    """apply_fn: for an input showing the photo at one of `shown_heights` (padded to the stride), the targets of
    the people whose height there is within SEEN of the training height; any other input is an error."""
    h, w = image_size
    training_height = PAPER.target_scale * 200.0
    table = {}
    for hs in shown_heights:
        ws = max(1, round(w * hs / h))
        padded = (-(-hs // 8) * 8, -(-ws // 8) * 8)
        f = np.array([ws / w, hs / h], np.float32)
        seen = np.abs(np.log(heights * f[1] / training_height)) <= np.log(SEEN)
        people = People(((keypoints + 0.5) * f - 0.5)[None], labelled[None], seen[None], np.zeros((1, len(seen)), bool))
        table[padded] = _build(people, None, skeleton=COCO17, input_size=padded), int(seen.sum())

    def apply_fn(params, images):
        assert images.shape[1:3] in table, f"shown {images.shape[1:3]}, expected one of {sorted(table)}"
        targets, _ = table[images.shape[1:3]]
        return (StageOutput(targets.pafs, targets.heatmaps),)

    return apply_fn, {shape: count for shape, (_, count) in table.items()}


def _matches(people, keypoints: np.ndarray, labelled: np.ndarray, tolerance: float) -> list[float]:
    """For each annotated person, the share of its labelled joints that its best found person has within tolerance."""
    shares = []
    for kp, lab in zip(keypoints, labelled, strict=True):
        near = np.hypot(*(people.parts - kp).transpose(2, 0, 1)) <= tolerance  # [N, 17]
        hits = (near & (people.part_scores > 0) & lab).sum(axis=1)
        shares.append(float(hits.max() / lab.sum()) if len(people) else 0.0)
    return shares


@pytest.mark.parametrize("factor", [1.0, 2.0, 0.5])
def test_scale_search_finds_the_annotated_people_at_any_photo_size(factor):
    photo, keypoints, labelled, heights = _coco_people(PHOTO)
    assert len(keypoints) == 5
    image, kp, hts = _resized(photo, keypoints, heights, factor)
    apply_fn, seen = size_limited_network(image.shape[:2], kp, labelled, hts, [round(s * 368) for s in CMU_SEARCH])
    assert list(seen.values()) == [0, 4, 5, 1]  # people seen at scales 0.5, 1, 1.5, 2: each at one or two
    student = run.Student(0, apply_fn, None, COCO17)
    people = predict_photo(student, image, PAPER, PhotoSettings(flip=False))
    assert len(people) == 5
    # 3 px in the 392 px photo (people 166-242 px tall), scaled with the photo; median errors measured: 0, 0.71 and
    # 0.35 px at 1x, 2x and 0.5x (the peaks are whole pixels), a few joints of overlapping people 2-8 px off
    shares = _matches(people, kp, labelled, 3.0 * factor)
    assert min(shares) >= 0.9, shares


def test_min_parts_drops_the_people_with_fewer_parts():
    photo, keypoints, labelled, heights = _coco_people(PHOTO)
    apply_fn, _ = size_limited_network(
        photo.shape[:2], keypoints, labelled, heights, [round(s * 368) for s in CMU_SEARCH]
    )
    student = run.Student(0, apply_fn, None, COCO17)
    found = predict_photo(student, photo, PAPER, PhotoSettings(flip=False))
    fewest = int(found.num_parts.min())
    kept = predict_photo(student, photo, PAPER, PhotoSettings(flip=False, min_parts=fewest + 1))
    assert 0 < len(kept) == (found.num_parts > fewest).sum() < len(found)
    assert sorted(kept.num_parts.tolist()) == sorted(n for n in found.num_parts.tolist() if n > fewest)
    with pytest.raises(ValueError, match="min_parts"):
        PhotoSettings(min_parts=0)


def test_without_the_search_the_small_photo_shows_no_one_and_people_height_finds_them():
    photo, keypoints, labelled, heights = _coco_people(PHOTO)
    image, kp, hts = _resized(photo, keypoints, heights, 0.5)
    student_at = lambda shown: run.Student(0, size_limited_network(image.shape[:2], kp, labelled, hts, shown)[0],
                                           None, COCO17)  # fmt: skip
    # its own pixels: people_height = the training height makes scale 1 the photo as it is
    native = PhotoSettings(scales=(1.0,), people_height=250.0, flip=False)
    assert len(predict_photo(student_at([image.shape[0]]), image, PAPER, native)) == 0
    # told their height, the photo is enlarged so that it becomes the training height, +-30%
    told = PhotoSettings(people_height=float(hts.mean()), flip=False)
    base = image.shape[0] * 250.0 / float(hts.mean())
    people = predict_photo(student_at([round(s * base) for s in (0.7, 1.0, 1.3)]), image, PAPER, told)
    assert len(people) == 5 and min(_matches(people, kp, labelled, 1.5)) >= 0.9


def test_photos_are_read_upright_and_named_without_collisions(tmp_path):
    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:, :20] = 255  # white left half
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: the camera was turned; a viewer rotates the stored pixels 90 degrees clockwise
    Image.fromarray(pixels).save(tmp_path / "turned.jpg", exif=exif, quality=95)
    upright = read_photo(tmp_path / "turned.jpg")
    assert upright.shape == (40, 20, 3) and upright[:20].mean() > 200 and upright[20:].mean() < 50  # white on top
    with pytest.raises(FileNotFoundError, match="no such folder"):
        list_images(tmp_path / "missing")
    names = overlay_names(["a.jpg", "a.png", "b.JPEG"])
    assert names == {"a.jpg": "a.jpg.jpg", "a.png": "a.png.jpg", "b.JPEG": "b.jpg"}
    assert coco_image_ids(["000000785.jpg", "12.png"]) == {"000000785.jpg": 785, "12.png": 12}
    assert coco_image_ids(["7.jpg", "b.jpg", "a.png"]) == {"7.jpg": 1, "a.png": 2, "b.jpg": 3}
    assert coco_image_ids(["7.jpg", "007.png"]) == {"007.png": 1, "7.jpg": 2}  # the same number twice


# ---------------------------------------------------------------------------------------------- the binary


def _predict(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "experiments.predict", *args], cwd=REPO, capture_output=True, text=True, timeout=600
    )


def test_predict_binary_on_a_folder_with_bad_files(trained_run, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "000000040083.JPG").write_bytes((REAL_SAMPLES / "coco" / "000000040083.jpg").read_bytes())
    (photos / "106848.jpeg").write_bytes((REAL_SAMPLES / "crowdpose" / "106848.jpg").read_bytes())
    data = (REAL_SAMPLES / "coco" / "000000000785.jpg").read_bytes()
    (photos / "cut.jpg").write_bytes(data[: len(data) // 3])
    (photos / "notes.png").write_text("not an image\n")
    (photos / "readme.txt").write_text("not looked at\n")
    output = tmp_path / "out"

    result = _predict(f"--workdir={trained_run}", f"--images={photos}", f"--output={output}", "--scales=1,2")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = result.stdout.strip().splitlines()[-1]
    assert summary.startswith("2 images, ") and "skipped 2: cut.jpg, notes.png" in summary, summary
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: skipped")]
    assert len(warnings) == 2 and "cut.jpg" in warnings[0] and "notes.png" in warnings[1], warnings

    names = ["000000040083.JPG", "106848.jpeg"]
    predictions = mpii_json_io.load_predictions(output / "predictions.json")
    assert [p.name for p in predictions] == names
    coco = json.loads((output / "predictions_coco.json").read_text())
    assert len(coco) == sum(p.num_people for p in predictions)
    assert {c["image_id"] for c in coco} <= {40083, 106848}
    index = json.loads((output / "images.json").read_text())
    assert [i["name"] for i in index["images"]] == names
    assert [s["name"] for s in index["skipped"]] == ["cut.jpg", "notes.png"]
    assert index["settings"]["scales"] == [1.0, 2.0]
    for name in names:
        with Image.open(output / "overlays" / (name.split(".")[0] + ".jpg")) as overlay:
            with Image.open(photos / name) as original:
                assert overlay.size == original.size
    assert sorted(p.name for p in output.rglob("*") if p.is_file()) == sorted(
        ["predictions.json", "predictions_coco.json", "images.json", "000000040083.jpg", "106848.jpg"]
    )


def test_predict_binary_names_a_folder_without_images(trained_run, tmp_path):
    (tmp_path / "empty").mkdir()
    result = _predict(f"--workdir={trained_run}", f"--images={tmp_path / 'empty'}", f"--output={tmp_path / 'o'}")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"error: {tmp_path / 'empty'}: no .jpg, .jpeg or .png images in it"]
