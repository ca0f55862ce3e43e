"""Generative cover art for the demo albums: one design per genre, drawn with numpy.

Each function returns a ``(size, size, 3)`` ``uint8`` array. Shapes are drawn from signed
distances with a one-pixel soft edge, so nothing is jagged. Deterministic for a given seed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

SIZE = 600
Color = tuple[float, float, float]


def _canvas(size: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Pixel-centre coordinates ``(x, y)`` in 0..1, and the size of one pixel."""
    axis = (np.arange(size) + 0.5) / size
    x, y = np.meshgrid(axis, axis)
    return x, y, 1.0 / size


def _rgb(color: Color) -> np.ndarray:
    return np.array(color, dtype=float) / 255.0


def _cover(distance: np.ndarray, pixel: float) -> np.ndarray:
    """Coverage of a shape from its signed distance (negative inside), antialiased."""
    return np.clip(0.5 - distance / pixel, 0.0, 1.0)


def _paint(image: np.ndarray, color: Color | np.ndarray, alpha: np.ndarray) -> None:
    rgb = _rgb(color) if isinstance(color, tuple) else color
    image *= 1 - alpha[..., None]
    image += alpha[..., None] * rgb


def _segment_distance(x: np.ndarray, y: np.ndarray, a: tuple[float, float], b: tuple[float, float]) -> np.ndarray:
    ax, ay = a
    bx, by = b
    dx, dy = bx - ax, by - ay
    t = np.clip(((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy), 0, 1)
    return np.hypot(x - (ax + t * dx), y - (ay + t * dy))


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)


def rock_cover(seed: int, size: int = SIZE) -> np.ndarray:
    """A sunburst, a halftone sun and a lightning bolt: a gig poster in red and cream."""
    rng = np.random.default_rng(seed)
    x, y, px = _canvas(size)
    cx, cy = 0.5, 0.6
    angle = np.arctan2(y - cy, x - cx)
    radius = np.hypot(x - cx, y - cy)
    rays = 18
    # Soft ray edges whose width is one pixel at every distance from the centre.
    stripes = np.clip(0.5 + np.sin(angle * rays) / (rays * px / np.maximum(radius, px) * 2), 0, 1)
    image = np.empty((size, size, 3))
    image[:] = _rgb((28, 10, 14))
    _paint(image, (150, 22, 30), stripes)
    image *= (1 - 0.55 * np.clip(radius - 0.25, 0, 1) ** 1.2)[..., None]

    sun_r = 0.23
    sun = _cover(radius - sun_r, px)
    _paint(image, (244, 228, 192), sun)
    spacing = 0.026
    gx = (x - cx) / spacing
    gy = (y - cy) / spacing
    dot_d = np.hypot(gx - np.round(gx), gy - np.round(gy)) * spacing
    dot_r = spacing * 0.48 * np.clip((y - (cy - sun_r)) / (2 * sun_r), 0, 1) ** 1.5
    _paint(image, (190, 40, 40), _cover(dot_d - dot_r, px) * sun)

    bolt = [(0.62, 0.12), (0.46, 0.45), (0.56, 0.47), (0.40, 0.88)]
    jitter = rng.uniform(-0.03, 0.03, (len(bolt), 2))
    bolt = [(bx + jx, by + jy) for (bx, by), (jx, jy) in zip(bolt, jitter, strict=True)]
    distance = np.min([_segment_distance(x, y, a, b) for a, b in zip(bolt, bolt[1:], strict=False)], axis=0)
    _paint(image, (255, 236, 150), np.exp(-distance / 0.035) * 0.45)
    _paint(image, (255, 214, 60), _cover(distance - 0.014, px))
    _paint(image, (255, 250, 225), _cover(distance - 0.005, px))

    border = np.minimum(np.minimum(x, 1 - x), np.minimum(y, 1 - y))
    _paint(image, (244, 228, 192), _cover(border - 0.025, px))
    return _to_uint8(image)


def electronic_cover(seed: int, size: int = SIZE) -> np.ndarray:
    """A striped sun over a neon perspective grid, under a starry purple sky."""
    rng = np.random.default_rng(seed)
    x, y, px = _canvas(size)
    horizon = 0.62
    image = np.empty((size, size, 3))
    sky_t = np.clip(y / horizon, 0, 1)[..., None]
    image[:] = (1 - sky_t) * _rgb((18, 6, 48)) + sky_t * _rgb((196, 52, 120))

    stars = rng.uniform(0, 1, (140, 2)) * [1, horizon * 0.8]
    star_field = np.zeros((size, size))
    sx = np.clip((stars[:, 0] * size).astype(int), 0, size - 1)
    sy = np.clip((stars[:, 1] * size).astype(int), 0, size - 1)
    star_field[sy, sx] = rng.uniform(0.3, 1.0, len(stars))
    _paint(image, (255, 255, 255), star_field * (1 - sky_t[..., 0]))

    cx, cy, r = 0.5, 0.45, 0.25
    sun = _cover(np.hypot(x - cx, y - cy) - r, px)
    t = np.clip((y - (cy - r)) / (2 * r), 0, 1)[..., None]
    sun_color = (1 - t) * _rgb((255, 224, 90)) + t * _rgb((255, 60, 150))
    # Cuts through the lower half of the sun, thicker towards the horizon.
    band = np.clip((y - cy) / r, 0, 1)
    cuts = np.where(y > cy, np.abs(((y - cy) / 0.045) % 1 - 0.5) < 0.15 + 0.3 * band, False)
    _paint(image, sun_color, sun * (1 - cuts))
    glow = np.exp(-np.maximum(np.hypot(x - cx, y - cy) - r, 0) / 0.06) * 0.35
    _paint(image, (255, 90, 160), glow * (y < horizon))

    floor = y >= horizon
    image[floor] = _rgb((14, 4, 30))
    depth = np.where(floor, 1 / np.maximum(y - horizon, px), 0)
    # Lines a pixel wide at every depth: divide by how fast each coordinate moves per pixel.
    row_rate = depth**2 * px
    rows_d = np.abs((depth * 0.08) % 1 - 0.5) - 0.5
    lanes = (x - 0.5) * depth
    lanes_d = np.abs((lanes * 0.9) % 1 - 0.5) - 0.5
    line = np.maximum(
        np.exp(-((rows_d / (row_rate * 0.08 + 1e-9)) ** 2)),
        np.exp(-((lanes_d / (depth * px * 0.9 + 1e-9)) ** 2)),
    )
    fade = np.clip((y - horizon) / 0.05, 0, 1)
    _paint(image, (40, 230, 255), np.where(floor, line * fade, 0))
    _paint(image, (255, 120, 220), _cover(np.abs(y - horizon) - 0.002, px))
    return _to_uint8(image)


def indie_cover(seed: int, size: int = SIZE) -> np.ndarray:
    """Overlapping watercolour blots on warm paper, inside a hand-inked postcard frame."""
    rng = np.random.default_rng(seed)
    x, y, px = _canvas(size)
    image = np.empty((size, size, 3))
    image[:] = _rgb((244, 237, 222))
    grain = rng.normal(0, 0.012, (size, size))
    image += grain[..., None]

    palette = [(130, 160, 130), (214, 150, 150), (226, 190, 90), (90, 150, 160), (200, 120, 80), (150, 130, 180)]
    for index in range(9):
        cx, cy = rng.uniform(0.2, 0.8, 2)
        r = rng.uniform(0.09, 0.22)
        angle = np.arctan2(y - cy, x - cx)
        wobble = sum(rng.uniform(0.01, 0.03) * np.sin(k * angle + rng.uniform(0, 2 * np.pi)) for k in (2, 3, 5))
        d = np.hypot(x - cx, y - cy) - r * (1 + wobble)
        body = _cover(d, px * 3)
        rim = np.exp(-np.abs(d) / 0.006) * (d < 0.004)  # pigment gathers at a drying edge
        alpha = np.clip(body * 0.45 + rim * 0.35, 0, 1)
        colour = _rgb(palette[index % len(palette)])
        # Multiply, as watercolour layers do: light only ever gets darker.
        image *= 1 - alpha[..., None] * (1 - colour)

    inset = np.minimum(np.minimum(x, 1 - x), np.minimum(y, 1 - y))
    wobble = 0.002 * np.sin(x * 37 + y * 23)
    _paint(image, (70, 64, 72), _cover(np.abs(inset - 0.06 + wobble) - 0.0015, px))
    return _to_uint8(image)


def comedy_cover(seed: int, size: int = SIZE) -> np.ndarray:
    """A microphone on its stand in a spotlight against a brick wall."""
    rng = np.random.default_rng(seed)
    x, y, px = _canvas(size)
    brick_h, brick_w, mortar = 1 / 15, 0.15, 0.006
    row = np.floor(y / brick_h)
    shifted = x + (row % 2) * brick_w / 2
    col = np.floor(shifted / brick_w)
    brick_id = (row * 17 + col).astype(int) % 97
    shades = rng.uniform(0.75, 1.1, 97)
    image = np.empty((size, size, 3))
    image[:] = _rgb((150, 62, 46)) * shades[brick_id][..., None]
    edge = np.minimum(
        np.minimum(y % brick_h, brick_h - y % brick_h), np.minimum(shifted % brick_w, brick_w - shifted % brick_w)
    )
    _paint(image, (90, 84, 78), _cover(edge - mortar / 2, px))

    floor_y = 0.84
    floor = _cover(floor_y - y, px)
    _paint(image, (40, 30, 28), floor)
    light = np.exp(-(((x - 0.5) / 0.3) ** 2 + ((y - 0.5) / 0.45) ** 2))
    pool = np.exp(-(((x - 0.5) / 0.28) ** 2 + ((y - 0.9) / 0.05) ** 2)) * (y > floor_y)
    image *= (0.18 + 0.95 * np.clip(light + pool, 0, 1))[..., None]

    shadow = np.exp(-(((x - 0.5) / 0.08) ** 2 + ((y - 0.915) / 0.012) ** 2)) * 0.7
    image *= (1 - shadow)[..., None]
    dark = (28, 28, 32)
    stand = _segment_distance(x, y, (0.5, 0.46), (0.5, 0.9)) - 0.007
    _paint(image, dark, _cover(stand, px))
    base = np.hypot((x - 0.5) / 0.09, (y - 0.905) / 0.014) - 1
    _paint(image, dark, _cover(base * 0.014, px))
    handle = _segment_distance(x, y, (0.5, 0.36), (0.5, 0.47)) - 0.018
    _paint(image, (50, 50, 56), _cover(handle, px))
    head_d = np.hypot(x - 0.5, y - 0.3) - 0.065
    mesh = np.abs(np.sin((x + y) * 140)) * np.abs(np.sin((x - y) * 140))
    head = _cover(head_d, px)
    shine = np.clip(1 - np.hypot(x - 0.48, y - 0.28) / 0.065, 0, 1)
    _paint(image, (120, 122, 130), head)
    image += (head * (0.45 * shine - 0.12 * mesh))[..., None]
    return _to_uint8(image)


COVERS: dict[str, Callable[[int], np.ndarray]] = {
    "rock": rock_cover,
    "electronic": electronic_cover,
    "indie": indie_cover,
    "comedy": comedy_cover,
}
