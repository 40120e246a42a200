"""Procedural places for D_S backgrounds: a textured ground to the horizon, facades and sky, in the scene's camera.

The paper's scenes show a SUN397 photo of a place on a billboard behind the people. Without photos, the default
background was flat coloured shapes; a place drawn in the scene's own perspective is closer to what the people
should stand in. `sample_place` draws (from the caller's rng) a ground material, rows of facades (buildings or
low walls, each with its material and sometimes windows) whose nearest row stands in the billboard's plane, a
sky, a sun and a haze distance; `draw_place` ray-casts every pixel of a camera against the ground plane y = 0
and the facades (planes z = const facing the camera, behind the people), so the ground recedes to the horizon
row cy - focal tan(pitch). Materials are functions of the hit point in metres (brick, tiles, planks, plaster,
siding, concrete panels, asphalt, grass), their detail faded towards their mean colour where a pixel covers
more than half a feature (no moire near the horizon). Nothing is written to the depth buffer: the facades stand
behind every person (the stage keeps people before its billboard plane), the ground under their feet.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ltsh_jax.synth.camera import Camera

GROUND_KINDS: tuple[str, ...] = ("tiles", "bricks", "planks", "asphalt", "grass", "panels")
WALL_KINDS: tuple[str, ...] = ("bricks", "plaster", "siding", "tiles", "panels", "planks")
TABLE = 64  # (a power of two) side of each material's random table (per-cell tints, value noise)
LEVEL_FOV = 60.0  # degrees: the camera of `ProceduralPlaces.__call__` (no stage)
# Places are ray cast at this fraction of the image size and scaled up bilinearly: 4x cheaper at 1/2, and about
# as sharp as the paper's SUN397 photos (TFDS stores them at 120,000 pixels, about 350 x 350).
PLACE_SCALE = 0.5


@dataclasses.dataclass(frozen=True)
class Material:
    """A procedural surface: its kind, colours (sRGB in [0, 1]), feature size (metres) and random table."""

    kind: str
    base: np.ndarray  # [3]
    alt: np.ndarray  # [3] second colour (per-cell tints mix towards it)
    line: np.ndarray  # [3] mortar, grout or joint colour
    size: float  # brick length, tile side, plank width, board height, panel side; noise scale otherwise
    line_width: float
    table: np.ndarray  # [TABLE, TABLE] float32 in [0, 1]


@dataclasses.dataclass(frozen=True)
class Facade:
    """A vertical rectangle facing the camera: plane z, lateral span [x0, x1], height (metres), material, windows."""

    z: float
    x0: float
    x1: float
    height: float
    material: Material
    windows: tuple[float, float, float, float] | None = None  # spacing x, storey height, width and height fractions


@dataclasses.dataclass(frozen=True)
class Place:
    """A drawn place: ground material, facades, sky colours, sun direction (unit, world), ambient, haze distance."""

    ground: Material
    facades: tuple[Facade, ...]
    horizon: np.ndarray  # [3] sky colour at the horizon (also the haze colour)
    zenith: np.ndarray  # [3]
    clouds: float  # cloud cover in [0, 1]
    sky_table: np.ndarray  # [TABLE, TABLE]
    sun: np.ndarray  # [3]
    ambient: float
    haze: float  # metres: colour x exp(-distance / haze) + horizon x (1 - ...)


def _hsv(rng: np.random.Generator, hue: tuple[float, float], sat: tuple[float, float], val: tuple[float, float]):
    h, s, v = rng.uniform(*hue) % 1.0, rng.uniform(*sat), rng.uniform(*val)
    k = (np.array([5.0, 3.0, 1.0]) + h * 6.0) % 6.0
    return (v - v * s * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)).astype(np.float32)


def _palette(rng: np.random.Generator, kind: str) -> np.ndarray:
    """A plausible base colour of a material kind."""
    if kind == "bricks":
        return _hsv(rng, (0.0, 0.08), (0.3, 0.6), (0.3, 0.7))
    if kind == "planks":
        return _hsv(rng, (0.05, 0.11), (0.35, 0.7), (0.25, 0.8))
    if kind == "grass":
        return _hsv(rng, (0.18, 0.3), (0.4, 0.75), (0.25, 0.6))
    if kind == "asphalt":
        return np.full(3, rng.uniform(0.18, 0.45), np.float32)
    if kind == "panels":
        return _hsv(rng, (0.0, 1.0), (0.0, 0.12), (0.45, 0.85))
    if kind == "plaster" and rng.uniform() < 0.5:  # painted
        return _hsv(rng, (0.0, 1.0), (0.1, 0.5), (0.5, 0.95))
    return _hsv(rng, (0.0, 1.0), (0.0, 0.35), (0.35, 0.92))  # tiles, siding, plain plaster


def sample_material(rng: np.random.Generator, kind: str) -> Material:
    """A material of `kind` with colours, feature size and random table drawn from rng."""
    base = _palette(rng, kind)
    alt = np.clip(base * rng.uniform(0.6, 1.3) + rng.normal(0, 0.05, 3), 0, 1).astype(np.float32)
    if kind == "tiles" and rng.uniform() < 0.3:  # chequered
        alt = _palette(rng, kind)
    line = np.clip(base * rng.uniform(0.3, 0.7) if rng.uniform() < 0.6 else np.full(3, rng.uniform(0.5, 0.8)), 0, 1)
    size = {
        "bricks": rng.uniform(0.2, 0.3),
        "tiles": rng.uniform(0.2, 0.8),
        "planks": rng.uniform(0.1, 0.25),
        "plaster": rng.uniform(0.3, 1.5),
        "siding": rng.uniform(0.12, 0.3),
        "panels": rng.uniform(1.0, 3.0),
        "asphalt": rng.uniform(0.5, 2.0),
        "grass": rng.uniform(0.3, 1.2),
    }[kind]
    table = rng.random((TABLE, TABLE)).astype(np.float32)
    return Material(kind, base, alt, line.astype(np.float32), float(size), float(rng.uniform(0.008, 0.02)), table)


def sample_place(rng: np.random.Generator, front_z: float = -3.0) -> Place:
    """A random place whose nearest facades stand in the plane z = front_z (the billboard's), others further back."""
    ground = sample_material(rng, GROUND_KINDS[rng.integers(len(GROUND_KINDS))])
    facades: list[Facade] = []
    if rng.uniform() < 0.6:  # a front row: a low wall, or buildings
        low = rng.uniform() < 0.5
        x = -rng.uniform(20.0, 40.0)
        while x < 40.0:
            width = rng.uniform(3.0, 15.0)
            height = rng.uniform(0.6, 2.5) if low else rng.uniform(3.0, 15.0)
            facades.append(_facade(rng, front_z, x, x + width, height, windows=not low))
            x += width + (rng.uniform(0.5, 6.0) if rng.uniform() < 0.3 else 0.0)
    for _ in range(int(rng.integers(0, 3))):  # rows of buildings further back
        z = front_z - rng.uniform(4.0, 60.0)
        x = -rng.uniform(40.0, 120.0)
        while x < 120.0:
            width = rng.uniform(6.0, 30.0)
            if rng.uniform() < 0.8:
                facades.append(_facade(rng, z, x, x + width, rng.uniform(4.0, 40.0), windows=True))
            x += width
    overcast = rng.uniform() < 0.3
    if overcast:
        zenith = np.full(3, rng.uniform(0.55, 0.85), np.float32)
        horizon = np.clip(zenith + rng.uniform(0.0, 0.1), 0, 1).astype(np.float32)
    else:
        zenith = _hsv(rng, (0.55, 0.65), (0.35, 0.8), (0.55, 0.95))
        horizon = np.clip(zenith + (1 - zenith) * rng.uniform(0.4, 0.8), 0, 1).astype(np.float32)
    elevation, azimuth = rng.uniform(np.radians(15), np.radians(75)), rng.uniform(0, 2 * np.pi)
    sun = np.array([np.cos(elevation) * np.sin(azimuth), np.sin(elevation), np.cos(elevation) * np.cos(azimuth)])
    return Place(
        ground=ground,
        facades=tuple(facades),
        horizon=horizon,
        zenith=zenith,
        clouds=float(rng.uniform(0.0, 0.7)),
        sky_table=rng.random((TABLE, TABLE)).astype(np.float32),
        sun=sun.astype(np.float32),
        ambient=float(rng.uniform(0.55, 0.85) if overcast else rng.uniform(0.35, 0.65)),
        haze=float(rng.uniform(40.0, 250.0)),
    )


def _facade(rng: np.random.Generator, z: float, x0: float, x1: float, height: float, windows: bool) -> Facade:
    kind = WALL_KINDS[rng.integers(len(WALL_KINDS))]
    pattern = None
    if windows and height > 3.0 and rng.uniform() < 0.7:
        pattern = (rng.uniform(1.8, 4.0), rng.uniform(2.8, 3.6), rng.uniform(0.3, 0.6), rng.uniform(0.35, 0.6))
    return Facade(float(z), float(x0), float(x1), float(height), sample_material(rng, kind), pattern)


def _lookup(table: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    return table[i & (TABLE - 1), j & (TABLE - 1)]  # TABLE is a power of two: & is the wrap


def _noise(table: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Value noise in [0, 1] at (u, v) in table cells (bilinear over the wrapped table)."""
    fi, fj = np.floor(v), np.floor(u)
    i, j = fi.astype(np.int64), fj.astype(np.int64)
    ty, tx = v - fi, u - fj
    top = _lookup(table, i, j) * (1 - tx) + _lookup(table, i, j + 1) * tx
    bottom = _lookup(table, i + 1, j) * (1 - tx) + _lookup(table, i + 1, j + 1) * tx
    return top * (1 - ty) + bottom * ty


def _fade(footprint: np.ndarray, feature: float) -> np.ndarray:
    """1 where a pixel covers at most half a feature, 0 from a whole feature on: detail kept, or its mean."""
    return np.clip(2.0 - 2.0 * footprint / feature, 0.0, 1.0)


def _cells(material: Material, u, v, footprint, cell_u: float, cell_v: float, stagger: float | None):
    """(per-cell tint in [0, 1], joint opacity in [0, 1]) for a grid of cell_u x cell_v metres; every other row
    shifted by `stagger` cells (bricks), or each row by a random fraction (stagger None: planks). A joint thinner
    than a pixel is drawn a pixel wide and as much fainter, so thin lines neither vanish nor alias."""
    row = np.floor(v / cell_v)
    rows = row.astype(np.int64)
    shift = material.table[rows & (TABLE - 1), 0] if stagger is None else stagger * (rows & 1)
    shifted = u / cell_u + shift
    col = np.floor(shifted)
    tint = _lookup(material.table, rows, col.astype(np.int64))
    width = np.maximum(material.line_width, footprint)
    on_joint = ((shifted - col) * cell_u < width) | ((v / cell_v - row) * cell_v < width)
    return tint, on_joint * (material.line_width / width)


def shade_material(material: Material, u: np.ndarray, v: np.ndarray, footprint: np.ndarray) -> np.ndarray:
    """sRGB [N, 3] float32 of the material at surface coordinates u, v [N] (metres); footprint [N]: metres a pixel
    covers there. Detail fades to the material's mean colour where a pixel covers more than half a feature."""
    kind, size, table = material.kind, material.size, material.table
    base, alt, line = material.base, material.alt, material.line
    fine = _noise(table, u / 0.03, v / 0.03)
    if kind in ("bricks", "tiles", "panels", "planks"):
        cell_u, cell_v, stagger = {
            "bricks": (size, size * 0.33, 0.5),
            "tiles": (size, size, 0.0),
            "panels": (size, size * 0.6, 0.0),
            "planks": (size * 8.0, size, None),
        }[kind]
        tint, joint = _cells(material, u, v, footprint, cell_u, cell_v, stagger)
        if kind == "tiles" and np.abs(alt - base).sum() > 0.3:  # chequered tiles
            tint = np.mod(np.floor(u / cell_u) + np.floor(v / cell_v), 2)
        surface = base + (alt - base) * tint[:, None]
        if kind == "planks":  # wood grain along the plank
            grain = np.sin(u * 25.0 + 6.0 * _noise(table, u / 0.5, v / 0.05))
            surface = surface * (0.9 + 0.1 * grain)[:, None]
        surface = surface * (0.92 + 0.16 * fine)[:, None]
        detail = surface + (line - surface) * joint[:, None]
        coverage = material.line_width * (1 / cell_u + 1 / cell_v)
        mean = (1 - coverage) * (base + alt) / 2 + coverage * line
        fade = _fade(footprint, min(cell_u, cell_v))[:, None]
        return (mean + (detail - mean) * fade).astype(np.float32)
    if kind == "siding":  # overlapping horizontal boards: dark under each board's lower edge
        phase = v / size - np.floor(v / size)
        detail = base * (0.72 + 0.3 * phase)[:, None] * (0.95 + 0.1 * fine)[:, None]
        mean = base * 0.87
        return (mean + (detail - mean) * _fade(footprint, size)[:, None]).astype(np.float32)
    # plaster, asphalt, grass: noise at the material's scale and finer
    coarse = _noise(table, u / size, v / size)
    speckle = _noise(table.T, u / (size * 0.08), v / (size * 0.08))
    fade_fine = _fade(footprint, size * 0.08)
    t = 0.6 * coarse + 0.4 * (0.5 + (speckle - 0.5) * fade_fine)
    t = 0.5 + (t - 0.5) * _fade(footprint, size)
    return (base + (alt - base) * t[:, None]).astype(np.float32)


def _windows(facade: Facade, u: np.ndarray, v: np.ndarray, footprint: np.ndarray, colour: np.ndarray) -> np.ndarray:
    spacing, storey, width, height = facade.windows
    cu, cv = u / spacing - np.floor(u / spacing), v / storey - np.floor(v / storey)
    inside = (np.abs(cu - 0.5) < width / 2) & (np.abs(cv - 0.55) < height / 2)
    inside &= (v > storey) & (v < facade.height - 0.5)
    glass = np.array([0.12, 0.15, 0.2], np.float32) + 0.25 * (cv[:, None] - 0.3) * np.array([0.6, 0.7, 0.9], np.float32)
    fade = _fade(footprint, spacing * width)[:, None]
    cover = width * height
    mixed = colour * (1 - cover) + glass * cover
    out = np.where(inside[:, None], glass, colour)
    return mixed + (out - mixed) * fade


def draw_place(place: Place, camera: Camera) -> np.ndarray:
    """uint8 [H, W, 3]: the place seen by `camera` (ray cast per pixel centre)."""
    rows, cols = np.mgrid[0 : camera.height, 0 : camera.width].astype(np.float32)
    ray = camera.ray(np.stack([cols, rows], -1)).reshape(-1, 3).astype(np.float32)
    origin = np.asarray(camera.position, np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        best = np.where(ray[:, 1] < -1e-9, -origin[1] / ray[:, 1], np.inf)
    surface = np.where(np.isfinite(best), 0, -1)  # -1 sky, 0 ground, k + 1 facade k
    # Facades come in rows (one plane z each) of disjoint spans sorted by x0: one plane test per row.
    planes = sorted({f.z for f in place.facades}, reverse=True)
    for z in planes:
        ids = np.array([k for k, f in enumerate(place.facades) if f.z == z])
        ids = ids[np.argsort([place.facades[k].x0 for k in ids])]
        x0 = np.array([place.facades[k].x0 for k in ids])
        x1 = np.array([place.facades[k].x1 for k in ids])
        top = np.array([place.facades[k].height for k in ids])
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(ray[:, 2] < -1e-9, (z - origin[2]) / ray[:, 2], np.inf)
        x, y = origin[0] + t * ray[:, 0], origin[1] + t * ray[:, 1]
        slot = np.clip(np.searchsorted(x0, x, side="right") - 1, 0, len(ids) - 1)
        hit = (t < best) & (x >= x0[slot]) & (x <= x1[slot]) & (y >= 0) & (y <= top[slot])
        best, surface = np.where(hit, t, best), np.where(hit, ids[slot] + 1, surface)
    colour = np.empty((len(ray), 3), np.float32)

    order = np.argsort(surface, kind="stable")
    bounds = np.searchsorted(surface[order], np.arange(-1, len(place.facades) + 2))
    groups = {k: order[bounds[k + 1] : bounds[k + 2]] for k in range(-1, len(place.facades) + 1)}
    ground = groups[0]
    if len(ground):
        footprint = best[ground] / (camera.focal * np.maximum(-ray[ground, 1], 1e-4))
        lit = place.ambient + (1 - place.ambient) * max(float(place.sun[1]), 0.0)
        point = origin + best[ground, None] * ray[ground]
        colour[ground] = lit * shade_material(place.ground, point[:, 0], point[:, 2], footprint)
    for k, facade in enumerate(place.facades):
        ids = groups[k + 1]
        if not len(ids):
            continue
        footprint = best[ids] / (camera.focal * np.maximum(-ray[ids, 2], 1e-4))
        point = origin + best[ids, None] * ray[ids]
        u, v = point[:, 0] - np.float32(facade.x0), point[:, 1]
        shaded = shade_material(facade.material, u, v, footprint)
        if facade.windows is not None:
            shaded = _windows(facade, u, v, footprint, shaded)
        lit = place.ambient + (1 - place.ambient) * max(float(place.sun[2]), 0.0) * 0.8
        colour[ids] = lit * shaded
    hit = order[bounds[1] :]
    haze = np.exp(-best[hit] / place.haze)[:, None].astype(np.float32)
    colour[hit] = colour[hit] * haze + place.horizon * (1 - haze)

    sky = groups[-1]
    if len(sky):
        up = np.clip(ray[sky, 1], 0.0, 1.0)
        t = (up / 0.6).clip(0, 1) ** 0.6
        tone = place.horizon + (place.zenith - place.horizon) * t[:, None]
        height = np.maximum(ray[sky, 1], 0.02)
        cu, cv = ray[sky, 0] / height * 3.0, ray[sky, 2] / height * 3.0
        cloud = 0.65 * _noise(place.sky_table, cu, cv) + 0.35 * _noise(place.sky_table.T, cu * 3.1, cv * 3.1)
        amount = np.clip((cloud - (1 - place.clouds)) * 3.0, 0, 1) * (1 - np.exp(-up * 20))
        colour[sky] = tone + (np.float32(0.93) - tone) * amount[:, None]
    image = np.clip(colour.reshape(camera.height, camera.width, 3), 0, 1)
    return np.rint(image * 255).astype(np.uint8)


def horizon_row(camera: Camera) -> float:
    """The image row of the horizon (rays parallel to the ground): cy - focal tan(pitch), for yaw 0."""
    return camera.height / 2 - 0.5 - camera.focal * float(np.tan(np.radians(camera.pitch)))


def draw_scaled(place: Place, camera: Camera, scale: float = PLACE_SCALE) -> np.ndarray:
    """`draw_place` at `scale` x the camera's size (same field of view), scaled up bilinearly to its size."""
    if scale == 1.0:
        return draw_place(place, camera)
    from PIL import Image

    small = dataclasses.replace(camera, focal=camera.focal * scale, width=max(8, round(camera.width * scale)),
                                height=max(8, round(camera.height * scale)))  # fmt: skip
    image = Image.fromarray(draw_place(place, small)).resize((camera.width, camera.height), Image.Resampling.BILINEAR)
    return np.asarray(image, np.uint8)


class ProceduralPlaces:
    """The procedural background that draws a place: `on_stage` in the stage's camera (its facades in the
    billboard's plane); called as `source(rng, width, height)`, a place seen by a level camera 1.6 m high."""

    def __init__(self, scale: float = PLACE_SCALE):
        if not 0 < scale <= 1:
            raise ValueError(f"ProceduralPlaces: scale must lie in (0, 1], got {scale}")
        self.scale = scale

    def on_stage(self, rng: np.random.Generator, stage) -> np.ndarray:
        """uint8 [H, W, 3] of a place drawn from rng, seen by the stage's camera."""
        return draw_scaled(sample_place(rng, front_z=stage.plane_z), stage.camera, self.scale)

    def __call__(self, rng: np.random.Generator, width: int, height: int) -> np.ndarray:
        """uint8 [height, width, 3]: a place with its front facades U[5, 20] m ahead of a level camera."""
        focal = width / 2 / np.tan(np.radians(LEVEL_FOV) / 2)
        camera = Camera(focal=float(focal), width=int(width), height=int(height), position=(0.0, 1.6, 0.0))
        return draw_scaled(sample_place(rng, front_z=-float(rng.uniform(5.0, 20.0))), camera, self.scale)


procedural_places = ProceduralPlaces()
