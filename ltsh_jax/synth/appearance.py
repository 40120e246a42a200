"""Per-vertex colours for synthetic people: skin tone, hair cap, eyes, and clothes with procedural textures.

The paper's humans wear scanned clothing textures we cannot ship; instead each person gets, from the caller's
Generator: one skin tone (a palette spanning light to dark, jittered), a hair colour on a cap of head vertices
(cut lower at the back, sometimes bald), a top (sleeveless, short or long sleeves) and a bottom (shorts, knee
length or trousers) split at a random waist height, shoes, and for each garment a texture computed from the
rest-pose vertex positions (plain, stripes, checks, noise), so that the pattern moves with the body. Colours
are per vertex so the renderer interpolates them; no texture maps are needed.
"""

from __future__ import annotations

import numpy as np

from ltsh_jax.synth.body_model import PART_NAMES, BodyModel

# sRGB skin tones from light to dark (roughly the Fitzpatrick range), jittered per person.
SKIN_TONES = np.array(
    [
        [0.96, 0.80, 0.69],
        [0.92, 0.74, 0.60],
        [0.87, 0.67, 0.52],
        [0.78, 0.57, 0.42],
        [0.66, 0.46, 0.32],
        [0.55, 0.37, 0.25],
        [0.43, 0.28, 0.18],
        [0.30, 0.19, 0.12],
    ],
    np.float32,
)
HAIR_COLOURS = np.array(
    [
        [0.05, 0.04, 0.03],  # black
        [0.17, 0.10, 0.06],  # dark brown
        [0.33, 0.20, 0.11],  # brown
        [0.62, 0.47, 0.28],  # dark blonde
        [0.85, 0.72, 0.48],  # blonde
        [0.55, 0.22, 0.09],  # red
        [0.62, 0.61, 0.60],  # grey
    ],
    np.float32,
)
IRIS_COLOURS = np.array([[0.18, 0.11, 0.06], [0.30, 0.20, 0.10], [0.25, 0.40, 0.55], [0.30, 0.42, 0.30]], np.float32)
TEXTURES: tuple[str, ...] = ("plain", "stripes", "checks", "noise")
_PART = {name: i for i, name in enumerate(PART_NAMES)}


def _part_mask(model: BodyModel, *names: str) -> np.ndarray:
    return np.isin(model.vertex_part, [_PART[n] for n in names])


def _garment_colour(rng: np.random.Generator) -> np.ndarray:
    """A clothing colour: mostly muted (greys, navy, earth), sometimes saturated."""
    if rng.uniform() < 0.3:
        grey = rng.uniform(0.05, 0.9)
        return np.full(3, grey, np.float32) + rng.normal(0, 0.02, 3).astype(np.float32)
    hue = rng.uniform()
    saturation = rng.uniform(0.2, 0.6) if rng.uniform() < 0.6 else rng.uniform(0.6, 0.95)
    value = rng.uniform(0.15, 0.95)
    k = (np.array([5.0, 3.0, 1.0]) + hue * 6.0) % 6.0  # HSV -> RGB
    rgb = value - value * saturation * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)
    return rgb.astype(np.float32)


def _texture(rng: np.random.Generator, points: np.ndarray) -> np.ndarray:
    """A pattern in [0, 1] per point [P] from its rest position [P, 3] (metres)."""
    kind = TEXTURES[rng.choice(len(TEXTURES), p=[0.4, 0.25, 0.15, 0.2])]
    if kind == "plain":
        return np.zeros(len(points), np.float32)
    if kind == "stripes":
        axis = rng.choice(3, p=[0.2, 0.7, 0.1])
        period = rng.uniform(0.015, 0.12)
        duty = rng.uniform(0.2, 0.6)
        phase = ((points[:, axis] / period) + rng.uniform()) % 1.0
        return (phase < duty).astype(np.float32)
    if kind == "checks":
        period = rng.uniform(0.02, 0.08)
        cells = np.floor(points / period + rng.uniform(size=3)).astype(np.int64)
        return (cells.sum(axis=1) % 2).astype(np.float32)
    # Smooth noise: a sum of random plane waves, squashed to [0, 1].
    k = rng.normal(0.0, 1.0, (6, 3)) * rng.uniform(15.0, 60.0)
    waves = np.sin(points @ k.T + rng.uniform(0, 2 * np.pi, 6)).sum(axis=1) / np.sqrt(3.0)
    return (1.0 / (1.0 + np.exp(-2.5 * waves))).astype(np.float32)


def _dress(rng: np.random.Generator, points: np.ndarray) -> np.ndarray:
    """Colours [P, 3] of one garment: two colours mixed by a texture, with slight per-vertex shading noise."""
    base, second = _garment_colour(rng), _garment_colour(rng)
    t = _texture(rng, points)[:, None]
    colour = base * (1.0 - t) + second * t
    return colour * rng.uniform(0.96, 1.04, (len(points), 1)).astype(np.float32)


def sample_appearance(rng: np.random.Generator, model: BodyModel, rest_vertices: np.ndarray) -> np.ndarray:
    """Per-vertex colours [V, 3] float32 in [0, 1] for one person; `rest_vertices` [V, 3] in the body frame."""
    rest = np.asarray(rest_vertices, np.float32)
    if rest.shape != (model.num_vertices, 3):
        raise ValueError(f"rest_vertices must have shape ({model.num_vertices}, 3), got {rest.shape}")
    skin = SKIN_TONES[rng.choice(len(SKIN_TONES))] * rng.uniform(0.93, 1.07) + rng.normal(0, 0.015, 3)
    colours = np.broadcast_to(np.clip(skin, 0.0, 1.0), rest.shape).astype(np.float32).copy()
    part = model.vertex_part
    y = rest[:, 1]

    # Top: the torso above the waist, plus sleeves; bottom: the torso below the waist and the legs.
    torso = part == _PART["torso"]
    low, high = np.quantile(y[torso], [0.0, 1.0])
    waist = low + rng.uniform(0.12, 0.3) * (high - low)
    sleeves = rng.choice(3, p=[0.2, 0.45, 0.35])  # 0 none, 1 short, 2 long
    top = (torso & (y >= waist)) | (_part_mask(model, "upper_arm") if sleeves >= 1 else False)
    if sleeves == 2:
        top |= _part_mask(model, "lower_arm")
    legs = rng.choice(3, p=[0.25, 0.15, 0.6])  # 0 shorts, 1 to the knee, 2 trousers
    bottom = torso & (y < waist)
    upper_leg = _part_mask(model, "upper_leg")
    if legs == 0:
        leg_y = y[upper_leg]
        bottom |= upper_leg & (y > np.quantile(leg_y, rng.uniform(0.3, 0.6)))
    else:
        bottom |= upper_leg
    if legs == 2:
        bottom |= _part_mask(model, "lower_leg")
    for garment in (top, bottom):
        colours[garment] = _dress(rng, rest[garment])
    feet = _part_mask(model, "foot")
    if rng.uniform() < 0.9:  # shoes, else barefoot
        colours[feet] = _garment_colour(rng) * rng.uniform(0.3, 1.0)

    # Hair: head vertices above a cut that drops towards the back of the head; sometimes bald.
    head = part == _PART["head"]
    if rng.uniform() < 0.92:
        top_y = y[head].max()
        centre_z = np.median(rest[head, 2])
        front = rng.uniform(0.035, 0.07)
        back = front + rng.uniform(0.03, 0.17)
        behind = np.clip((centre_z - rest[:, 2]) / 0.08 + 0.5, 0.0, 1.0)  # 0 at the face, 1 at the back
        cut = top_y - (front + (back - front) * behind)
        hair = HAIR_COLOURS[rng.choice(len(HAIR_COLOURS))] * rng.uniform(0.85, 1.15)
        colours[head & (y > cut)] = np.clip(hair, 0.0, 1.0)

    # Eyes: white, with a dark iris on the most forward vertices of each eye.
    eye = np.flatnonzero(part == _PART["eye"])
    colours[eye] = (0.92, 0.9, 0.88)
    iris_colour = IRIS_COLOURS[rng.choice(len(IRIS_COLOURS))]
    for side in (rest[eye, 0] > 0, rest[eye, 0] <= 0):
        ids = eye[side]
        if len(ids):
            colours[ids[rest[ids, 2] > np.quantile(rest[ids, 2], 0.85)]] = iris_colour
    return np.clip(colours, 0.0, 1.0).astype(np.float32)
