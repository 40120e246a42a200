"""Skeleton drawing puts colour on the limbs and nowhere else; contact sheets tile their images."""

import numpy as np
import pytest

from ltsh_jax import visualize
from ltsh_jax.skeleton import CMU_MPI


def test_limbs_are_drawn_between_confident_joints_only():
    image = np.zeros((100, 100, 3), np.uint8)
    keypoints = np.zeros((1, 15, 2), np.float32)
    keypoints[0, 0] = (20, 50)  # head top
    keypoints[0, 1] = (80, 50)  # upper neck: limb 0 is a horizontal line at y = 50
    keypoints[0, 2] = (80, 90)  # right shoulder, but with score 0: limb (1, 2) must not appear
    scores = np.zeros((1, 15), np.float32)
    scores[0, :2] = 1.0
    out = visualize.draw_people(image, keypoints, scores, CMU_MPI, line_width=2)
    assert out[50, 50].any()  # on the head-neck line
    assert not out[70, 80].any()  # halfway to the unconfident shoulder
    assert not out[10:30].any() and not image.any()  # far from the line; the input is untouched


def test_contact_sheet_tiles_images_in_a_grid():
    red = np.full((64, 32, 3), (255, 0, 0), np.uint8)
    blue = np.full((32, 64, 3), (0, 0, 255), np.uint8)
    sheet = visualize.contact_sheet([red, blue, red], columns=2, cell=64)
    assert sheet.shape == (128, 128, 3)
    assert tuple(sheet[32, 32]) == (255, 0, 0) and tuple(sheet[32, 96]) == (0, 0, 255)
    assert tuple(sheet[96, 32]) == (255, 0, 0) and not sheet[96, 96].any()
    with pytest.raises(ValueError):
        visualize.contact_sheet([])
