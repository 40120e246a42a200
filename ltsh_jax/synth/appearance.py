"""Per-vertex colours for synthetic people: skin tone, hair cap, eyes, and clothes with procedural textures.

The paper's humans wear scanned clothing textures we cannot ship; instead each person gets, from the caller's
Generator: one skin tone (a palette spanning light to dark, jittered), a hair colour on a cap of head vertices
(cut lower at the back, sometimes bald), a top (sleeveless, short or long sleeves) and a bottom (shorts, knee
length or trousers) split at a random waist height, shoes, and for each garment a texture computed from the
rest-pose vertex positions (plain, stripes, checks, noise), so that the pattern moves with the body. Colours
are per vertex so the renderer interpolates them; no texture maps are needed.

`clothing="rich"` (D_S reference/paper, D_M; `sample_outfit`) widens this: skin tones interpolated over a wider
palette, sleeve and leg lengths as continuous fractions of the arm and leg, shoes with soles (sneakers, leather
shoes, boots), garment materials woven, knit, denim-like, stripes, checks, printed dots, camouflage-like prints
and logos as shapes on the chest, hair caps of varying cut and length with dyed colours sometimes. Patterns live
on the vertices (about 1.5 cm apart), so their periods stay above 1.5 cm. "basic" keeps the earlier draw byte for
byte (tiny, small, learning).
"""

from __future__ import annotations

import dataclasses

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


def _checked(model: BodyModel, rest_vertices: np.ndarray) -> np.ndarray:
    rest = np.asarray(rest_vertices, np.float32)
    if rest.shape != (model.num_vertices, 3):
        raise ValueError(f"rest_vertices must have shape ({model.num_vertices}, 3), got {rest.shape}")
    return rest


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


def sample_appearance(
    rng: np.random.Generator, model: BodyModel, rest_vertices: np.ndarray, clothing: str = "basic"
) -> np.ndarray:
    """Per-vertex colours [V, 3] float32 in [0, 1] for one person; `rest_vertices` [V, 3] in the body frame.

    clothing: "basic" (the earlier draw) or "rich" (`sample_outfit`)."""
    if clothing == "rich":
        return sample_outfit(rng, model, rest_vertices).colors
    if clothing != "basic":
        raise ValueError(f"clothing must be 'basic' or 'rich', got {clothing!r}")
    rest = _checked(model, rest_vertices)
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

    _paint_eyes(rng, colours, rest, np.flatnonzero(part == _PART["eye"]))
    return np.clip(colours, 0.0, 1.0).astype(np.float32)


def _paint_eyes(rng: np.random.Generator, colours: np.ndarray, rest: np.ndarray, eye: np.ndarray) -> None:
    """Eyes in `colours` (in place): white, with an iris drawn from IRIS_COLOURS on the most forward vertices
    of each eye."""
    colours[eye] = (0.92, 0.9, 0.88)
    iris_colour = IRIS_COLOURS[rng.choice(len(IRIS_COLOURS))]
    for side in (rest[eye, 0] > 0, rest[eye, 0] <= 0):
        ids = eye[side]
        if len(ids):
            colours[ids[rest[ids, 2] > np.quantile(rest[ids, 2], 0.85)]] = iris_colour


# ---- rich clothing ----------------------------------------------------------------------------------------------

# Wider than SKIN_TONES at both ends (very light to very dark), interpolated continuously.
RICH_SKIN_TONES = np.concatenate([[[0.99, 0.87, 0.78]], SKIN_TONES, [[0.24, 0.15, 0.10], [0.17, 0.11, 0.08]]]).astype(
    np.float32
)
DYED_HAIR = np.array([[0.55, 0.1, 0.35], [0.15, 0.25, 0.6], [0.9, 0.88, 0.85], [0.2, 0.5, 0.35]], np.float32)
MATERIALS: tuple[str, ...] = ("plain", "woven", "knit", "denim", "stripes", "checks", "dots", "camouflage", "logo")
TOP_WEIGHTS = (0.2, 0.1, 0.12, 0.03, 0.15, 0.08, 0.08, 0.06, 0.18)
BOTTOM_WEIGHTS = (0.25, 0.15, 0.05, 0.35, 0.06, 0.06, 0.03, 0.05, 0.0)  # no logos on trousers
SHOES: tuple[str, ...] = ("barefoot", "sneakers", "leather", "boots")
LOGO_SHAPES: tuple[str, ...] = ("disc", "star", "triangle", "bars", "ring")


@dataclasses.dataclass(frozen=True)
class Outfit:
    """One person's look: per-vertex colours and what was drawn (for tests and statistics)."""

    colors: np.ndarray  # [V, 3] float32 in [0, 1]
    skin: np.ndarray  # [3]
    sleeve: float  # fraction of the arm (shoulder to wrist) the top covers: 0 sleeveless .. 1 long
    leg: float  # fraction of the leg (hip to ankle) the bottom covers: shorts .. trousers
    top: str  # MATERIALS
    bottom: str
    shoes: str  # SHOES
    hair: str  # "bald", "short", "long"


_INDEX_CACHE: dict[int, dict[str, np.ndarray]] = {}


def _indices(model: BodyModel) -> dict[str, np.ndarray]:
    """Vertex indices of the parts the outfit uses (cached per model: the rich draw works on these subsets)."""
    key = id(model)
    if key not in _INDEX_CACHE:
        part = np.asarray(model.vertex_part)
        names = ("torso", "upper_arm", "lower_arm", "upper_leg", "lower_leg", "foot", "head", "neck", "eye")
        out = {name: np.flatnonzero(part == _PART[name]) for name in names}
        out["arm"] = np.concatenate([out["upper_arm"], out["lower_arm"]])
        out["leg"] = np.concatenate([out["upper_leg"], out["lower_leg"]])
        _INDEX_CACHE[key] = out
    return _INDEX_CACHE[key]


def _arm_fraction_at(model: BodyModel, rest: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(arm vertex indices, their position from the shoulder (0) to the wrist (1)), per side."""
    idx = _indices(model)
    ids, along = [], []
    for positive in (True, False):
        up = idx["upper_arm"][(rest[idx["upper_arm"], 0] > 0) == positive]
        low = idx["lower_arm"][(rest[idx["lower_arm"], 0] > 0) == positive]
        up_x, low_x = np.abs(rest[up, 0]), np.abs(rest[low, 0])
        start = rest[up[up_x <= np.quantile(up_x, 0.02)]].mean(0)  # the arm's innermost ring
        end = rest[low[low_x >= np.quantile(low_x, 0.95)]].mean(0)  # its wrist end
        axis = end - start
        both = np.concatenate([up, low])
        ids.append(both)
        along.append((rest[both] - start) @ axis / max(float(axis @ axis), 1e-9))
    return np.concatenate(ids), np.concatenate(along)


def arm_fraction(model: BodyModel, rest_vertices: np.ndarray) -> np.ndarray:
    """[V]: position of arm vertices from the shoulder (0) to the wrist (1), per side; NaN elsewhere."""
    ids, along = _arm_fraction_at(model, np.asarray(rest_vertices, np.float32))
    out = np.full(model.num_vertices, np.nan)
    out[ids] = along
    return out


def leg_fraction(model: BodyModel, rest_vertices: np.ndarray) -> np.ndarray:
    """[V]: position of leg vertices from the hip (0) to the ankle (1) by height; NaN elsewhere."""
    legs = _indices(model)["leg"]
    y = np.asarray(rest_vertices, np.float32)[legs, 1]
    out = np.full(model.num_vertices, np.nan)
    out[legs] = (y.max() - y) / max(float(y.max() - y.min()), 1e-9)
    return out


def _draw_sleeve(rng: np.random.Generator) -> float:
    kind = rng.choice(4, p=[0.15, 0.4, 0.1, 0.35])  # sleeveless, short, three-quarter, long
    return float((0.0, rng.uniform(0.12, 0.45), rng.uniform(0.5, 0.85), rng.uniform(0.92, 1.0))[kind])


def _draw_leg(rng: np.random.Generator) -> float:
    kind = rng.choice(3, p=[0.2, 0.15, 0.65])  # shorts, knee to calf, trousers
    return float((rng.uniform(0.12, 0.4), rng.uniform(0.45, 0.8), rng.uniform(0.93, 1.02))[kind])


def _denim(rng: np.random.Generator) -> np.ndarray:
    if rng.uniform() < 0.2:  # black or grey denim
        return np.full(3, rng.uniform(0.08, 0.45), np.float32)
    value = rng.uniform(0.2, 0.6)
    return np.array([0.25, 0.35, 0.62], np.float32) * value / 0.62 + rng.normal(0, 0.02, 3).astype(np.float32)


def _shape_mask(kind: str, x: np.ndarray, y: np.ndarray, size: float) -> np.ndarray:
    """Points (x, y) relative to a logo's centre inside the shape of `size` metres."""
    r, angle = np.hypot(x, y), np.arctan2(y, x)
    if kind == "disc":
        return r < size / 2
    if kind == "ring":
        return (r < size / 2) & (r > size / 4)
    if kind == "star":
        return r < size / 2 * (0.55 + 0.45 * np.cos(5 * (angle - np.pi / 2)))
    if kind == "triangle":
        return (y > -size / 3) & (np.abs(x) < (size / 2) * (size / 1.5 - (y + size / 3)) / (size / 1.5))
    return (np.abs(x) < size / 2) & (np.abs(y) < size / 3) & (np.mod(y / (size / 6), 2) < 1)  # bars


def material_colours(rng: np.random.Generator, kind: str, points: np.ndarray) -> np.ndarray:
    """Colours [P, 3] of a garment of material `kind` at rest positions points [P, 3] (metres)."""
    base = _denim(rng) if kind == "denim" else _garment_colour(rng)
    second = _garment_colour(rng)
    x, y, z = points[:, 0], points[:, 1], points[:, 2]
    t = np.zeros(len(points), np.float32)
    if kind == "woven":  # a twill: fine diagonal ribs, low contrast
        period = rng.uniform(0.015, 0.03)
        t = 0.5 + 0.5 * np.sin(2 * np.pi * (x + y + z) / period)
        return (base * (0.9 + 0.2 * t)[:, None]).astype(np.float32)
    if kind == "knit":  # vertical ribs around the body, sometimes a contrasting band pattern
        period = rng.uniform(0.015, 0.035)
        ribs = 0.5 + 0.5 * np.sin(2 * np.pi * (x + 0.7 * z) / period)
        colour = base * (0.85 + 0.3 * ribs)[:, None]
        if rng.uniform() < 0.4:
            band = np.mod(y / rng.uniform(0.04, 0.12), 1.0) < rng.uniform(0.15, 0.4)
            colour = np.where(band[:, None], second * (0.85 + 0.3 * ribs)[:, None], colour)
        return colour.astype(np.float32)
    if kind == "denim":  # diagonal twill, lighter worn areas
        twill = 0.5 + 0.5 * np.sin(2 * np.pi * (x - y) / rng.uniform(0.015, 0.025))
        k = rng.normal(0.0, 1.0, (4, 3)) * rng.uniform(6.0, 14.0)
        wear = 1.0 / (1.0 + np.exp(-2.0 * np.sin(points @ k.T + rng.uniform(0, 2 * np.pi, 4)).sum(1)))
        colour = base * (0.88 + 0.16 * twill)[:, None] * (0.9 + 0.35 * wear)[:, None]
        return colour.astype(np.float32)
    if kind == "dots":
        period = rng.uniform(0.03, 0.09)
        cell = np.stack([x, y], 1) / period + rng.uniform(size=2)
        t = (np.linalg.norm(cell - np.floor(cell) - 0.5, axis=1) < rng.uniform(0.18, 0.35)).astype(np.float32)
    elif kind == "camouflage":  # a printed pattern of blobs in three colours
        k = rng.normal(0.0, 1.0, (5, 3)) * rng.uniform(10.0, 30.0)
        phase = rng.uniform(0, 2 * np.pi, (2, 5))
        a = np.sin(points @ k.T + phase[0]).sum(1)
        b = np.sin(points @ k[::-1].T + phase[1]).sum(1)
        third = _garment_colour(rng)
        colour = np.where((a > 0.5)[:, None], second, np.where((b > 0.8)[:, None], third, base))
        return colour.astype(np.float32)
    elif kind in ("stripes", "checks"):
        t = _texture_kind(rng, kind, points)
    colour = base * (1.0 - t[:, None]) + second * t[:, None]
    return (colour * rng.uniform(0.96, 1.04, (len(points), 1))).astype(np.float32)


def _texture_kind(rng: np.random.Generator, kind: str, points: np.ndarray) -> np.ndarray:
    if kind == "stripes":
        axis = rng.choice(3, p=[0.2, 0.7, 0.1])
        phase = ((points[:, axis] / rng.uniform(0.02, 0.12)) + rng.uniform()) % 1.0
        return (phase < rng.uniform(0.2, 0.6)).astype(np.float32)
    cells = np.floor(points / rng.uniform(0.025, 0.08) + rng.uniform(size=3)).astype(np.int64)
    return (cells.sum(axis=1) % 2).astype(np.float32)


def _logo(rng: np.random.Generator, colours: np.ndarray, rest: np.ndarray, chest: np.ndarray) -> None:
    """Paints a shape on the front of the chest (vertex indices of the top on the torso), in place."""
    if not len(chest):
        return
    front = chest[rest[chest, 2] > np.quantile(rest[chest, 2], 0.6)]
    centre_y = np.quantile(rest[chest, 1], rng.uniform(0.55, 0.8))
    size = rng.uniform(0.06, 0.16)
    inside = _shape_mask(LOGO_SHAPES[rng.integers(len(LOGO_SHAPES))], rest[front, 0] - rng.uniform(-0.04, 0.04),
                         rest[front, 1] - centre_y, size)  # fmt: skip
    colours[front[inside]] = _garment_colour(rng)


def sample_outfit(rng: np.random.Generator, model: BodyModel, rest_vertices: np.ndarray) -> Outfit:
    """The rich look of one person (see the module docstring), every choice from rng."""
    rest = _checked(model, rest_vertices)
    idx = _indices(model)
    tone = rng.uniform(0, len(RICH_SKIN_TONES) - 1)
    low = int(np.floor(tone))
    high = min(low + 1, len(RICH_SKIN_TONES) - 1)
    skin = RICH_SKIN_TONES[low] * (1 - (tone - low)) + RICH_SKIN_TONES[high] * (tone - low)
    skin = np.clip(skin * rng.uniform(0.95, 1.05) + rng.normal(0, 0.012, 3), 0.0, 1.0).astype(np.float32)
    colours = np.broadcast_to(skin, rest.shape).astype(np.float32).copy()

    torso = idx["torso"]
    torso_y = rest[torso, 1]
    waist = torso_y.min() + rng.uniform(0.12, 0.3) * (torso_y.max() - torso_y.min())
    sleeve, leg = _draw_sleeve(rng), _draw_leg(rng)
    arm_ids, arm_along = _arm_fraction_at(model, rest)
    legs = idx["leg"]
    leg_y = rest[legs, 1]
    leg_along = (leg_y.max() - leg_y) / max(float(leg_y.max() - leg_y.min()), 1e-9)
    chest = torso[torso_y >= waist]
    top = np.concatenate([chest, arm_ids[arm_along <= sleeve]])
    bottom = np.concatenate([torso[torso_y < waist], legs[leg_along <= leg]])
    top_kind = MATERIALS[rng.choice(len(MATERIALS), p=TOP_WEIGHTS)]
    bottom_kind = MATERIALS[rng.choice(len(MATERIALS), p=BOTTOM_WEIGHTS)]
    colours[bottom] = material_colours(rng, bottom_kind, rest[bottom])
    colours[top] = material_colours(rng, "plain" if top_kind == "logo" else top_kind, rest[top])
    if top_kind == "logo":
        _logo(rng, colours, rest, chest)

    shoes = SHOES[rng.choice(len(SHOES), p=[0.06, 0.45, 0.3, 0.19])]
    if shoes != "barefoot":
        feet = idx["foot"]
        upper = _garment_colour(rng) * (rng.uniform(0.3, 1.0) if shoes != "sneakers" else 1.0)
        if shoes == "leather":
            upper = np.array([0.06, 0.05, 0.04], np.float32) + rng.uniform(0, 0.3) * np.array([0.6, 0.35, 0.2])
        covered = feet
        if shoes == "boots":  # up the shin, over the bottom
            shin = idx["lower_leg"]
            covered = np.concatenate([feet, shin[rest[shin, 1] < rest[feet, 1].max() + rng.uniform(0.05, 0.2)]])
        colours[covered] = upper
        sole_top = rest[feet, 1].min() + rng.uniform(0.015, 0.035)
        sole = np.full(3, 0.92 if shoes == "sneakers" and rng.uniform() < 0.7 else 0.08, np.float32)
        colours[feet[rest[feet, 1] < sole_top]] = sole

    head = idx["head"]
    hair_kind = "bald" if rng.uniform() < 0.08 else ("long" if rng.uniform() < 0.35 else "short")
    if hair_kind != "bald":
        top_y = rest[head, 1].max()
        centre_z = np.median(rest[head, 2])
        front = rng.uniform(0.03, 0.08)
        back = front + (rng.uniform(0.12, 0.2) if hair_kind == "long" else rng.uniform(0.03, 0.13))
        candidates = head
        if hair_kind == "long":  # down the back of the neck to the shoulders
            back_ids = np.concatenate([idx["neck"], torso])
            keep = (rest[back_ids, 2] < centre_z - 0.02) & (np.abs(rest[back_ids, 0]) < 0.12)
            candidates = np.concatenate([head, back_ids[keep]])
        behind = np.clip((centre_z - rest[candidates, 2]) / 0.08 + 0.5, 0.0, 1.0)  # 0 at the face, 1 at the back
        on_head = candidates[rest[candidates, 1] > top_y - (front + (back - front) * behind)]
        palette = DYED_HAIR if rng.uniform() < 0.06 else HAIR_COLOURS
        hair = np.clip(palette[rng.integers(len(palette))] * rng.uniform(0.85, 1.15), 0.0, 1.0)
        streaks = 0.9 + 0.2 * rng.random(len(on_head)).astype(np.float32)
        colours[on_head] = np.clip(hair[None] * streaks[:, None], 0.0, 1.0)

    _paint_eyes(rng, colours, rest, idx["eye"])
    return Outfit(np.clip(colours, 0.0, 1.0).astype(np.float32), skin, sleeve, leg, top_kind, bottom_kind, shoes,
                  hair_kind)  # fmt: skip
