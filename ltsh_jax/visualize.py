"""Pictures for a person to look at: skeletons drawn on images, and contact sheets of several images."""

from __future__ import annotations

import colorsys
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ltsh_jax.skeleton import Skeleton


def limb_colours(count: int) -> list[tuple[int, int, int]]:
    """`count` distinct, saturated RGB colours (one per limb type)."""
    return [tuple(int(255 * c) for c in colorsys.hsv_to_rgb(i / max(count, 1), 0.9, 1.0)) for i in range(count)]


def draw_people(
    image: np.ndarray,
    keypoints: np.ndarray,
    scores: np.ndarray,
    skeleton: Skeleton,
    *,
    min_score: float = 0.0,
    line_width: int | None = None,
) -> np.ndarray:
    """Draws people (keypoints [N, J, 2], scores [N, J] in the skeleton's parts) onto a copy of `image`.

    A joint is drawn when its score is above `min_score`, a limb when both of its ends are.
    """
    canvas = Image.fromarray(np.asarray(image, np.uint8)).convert("RGB")
    draw = ImageDraw.Draw(canvas)
    width = line_width or max(2, round(max(canvas.size) / 200))
    keypoints = np.asarray(keypoints, np.float32).reshape(-1, skeleton.num_parts, 2)
    shown = np.asarray(scores, np.float32).reshape(-1, skeleton.num_parts) > min_score
    colours = limb_colours(skeleton.num_limbs)
    for person, visible in zip(keypoints, shown, strict=True):
        for (a, b), colour in zip(skeleton.limbs, colours, strict=True):
            if visible[a] and visible[b]:
                draw.line([tuple(person[a]), tuple(person[b])], fill=colour, width=width)
        for (x, y), ok in zip(person, visible, strict=True):
            if ok:
                draw.ellipse([x - width, y - width, x + width, y + width], fill=(255, 255, 255), outline=(0, 0, 0))
    return np.asarray(canvas)


def side_by_side(panels: Sequence[tuple[str, np.ndarray]], gap: int = 4) -> np.ndarray:
    """Equal-height images in a row, each with its caption drawn in its top-left corner (e.g. truth | prediction)."""
    if not panels:
        raise ValueError("side_by_side needs at least one image")
    height = max(np.asarray(image).shape[0] for _, image in panels)
    tiles = []
    for caption, image in panels:
        tile = Image.fromarray(np.asarray(image, np.uint8)).convert("RGB")
        if tile.height != height:
            tile = tile.resize((round(tile.width * height / tile.height), height))
        draw = ImageDraw.Draw(tile)
        font = ImageFont.load_default(size=max(10, height // 32))  # readable at 256 px and at 1080 px
        left, top, right, bottom = draw.textbbox((3, 2), caption, font=font)
        draw.rectangle([left - 2, top - 2, right + 2, bottom + 2], fill=(0, 0, 0))
        draw.text((3, 2), caption, fill=(255, 255, 255), font=font)
        tiles.append(tile)
    row = Image.new("RGB", (sum(t.width for t in tiles) + gap * (len(tiles) - 1), height), (255, 255, 255))
    x = 0
    for tile in tiles:
        row.paste(tile, (x, 0))
        x += tile.width + gap
    return np.asarray(row)


def contact_sheet(images: Sequence[np.ndarray], columns: int = 4, cell: int = 256) -> np.ndarray:
    """Images side by side in a grid, each fitted into a `cell` x `cell` square on black."""
    if not images:
        raise ValueError("contact_sheet needs at least one image")
    rows = -(-len(images) // columns)
    sheet = Image.new("RGB", (columns * cell, rows * cell))
    for i, image in enumerate(images):
        tile = Image.fromarray(np.asarray(image, np.uint8)).convert("RGB")
        tile.thumbnail((cell, cell))
        x = (i % columns) * cell + (cell - tile.width) // 2
        y = (i // columns) * cell + (cell - tile.height) // 2
        sheet.paste(tile, (x, y))
    return np.asarray(sheet)
