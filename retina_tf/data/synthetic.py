"""Synthetic e-ophtha: fundus photographs and lesion masks in e-ophtha's exact layout.

The real e-ophtha dataset (Decencière et al. 2013) cannot ship with the code,
yet the dataset reader, the tests and the demo all need a tree that looks and
is laid out like it.  This module renders plausible colour fundus photographs
(black border, orange-red field of view, optic disc, vessels) with exudates and
microaneurysms whose annotation masks match the drawn lesions pixel for pixel,
and writes them where e-ophtha keeps them, quirks included (``.jpg`` and
``.JPG``, a stray ``Thumbs.db``, photographs shared by the EX and MA sets).
"""

from __future__ import annotations

import dataclasses
import math
import os
import pathlib
from collections.abc import Callable

import cv2
import numpy as np

EXUDATE_ROOT = "e_optha_EX"
MICROANEURYSM_ROOT = "e_optha_MA"

_JPEG_QUALITY = 92
_THUMBS_DB = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(24)  # an OLE header, as Windows leaves it
_FIXED_POINT = 4  # cv2 drawing `shift`: sub-pixel coordinates keep small shapes round
_SCALE = 1 << _FIXED_POINT

# Colours in RGB at full illumination; a dim photograph scales them all.
_EXUDATE_RGB = np.array([240.0, 220.0, 110.0], np.float32)
_MICROANEURYSM_RGB = np.array([110.0, 20.0, 15.0], np.float32)
_OPTIC_DISC_RGB = np.array([250.0, 215.0, 140.0], np.float32)
_VESSEL_DARKENING = np.array([0.45, 0.72, 0.62], np.float32)  # vessels absorb green most


@dataclasses.dataclass(frozen=True)
class SyntheticEophtha:
    """Counts and sizes of a synthetic e-ophtha tree.

    Shared photographs are counted in both lesion counts, as in e-ophtha where
    they sit in e_optha_EX/EX and e_optha_MA/MA at once.

    Attributes:
      exudate_photographs: photographs in e_optha_EX/EX, with an exudate mask each (shared ones included).
      exudate_healthy: photographs in e_optha_EX/healthy.
      microaneurysm_photographs: photographs in e_optha_MA/MA, with a microaneurysm mask each (shared included).
      microaneurysm_healthy: photographs in e_optha_MA/healthy.
      shared_photographs: photographs in both lesion folders, with both masks.
      photographs_per_patient: photographs in each patient folder; a patient's never span two of the groups.
      sizes: (width, height) in pixels, each photograph drawing one of them.
      seed: the tree's seed; the same spec writes the same bytes.

    Raises:
      ValueError: a negative count, photographs_per_patient below 1, more shared photographs than either lesion
        count, or no size (or one under 32 pixels a side).
    """

    exudate_photographs: int = 4
    exudate_healthy: int = 2
    microaneurysm_photographs: int = 4
    microaneurysm_healthy: int = 2
    shared_photographs: int = 1
    photographs_per_patient: int = 2
    sizes: tuple[tuple[int, int], ...] = ((480, 320), (576, 384))  # (width, height); e-ophtha: 1440x960 .. 2544x1696
    seed: int = 0

    def __post_init__(self) -> None:
        """Fail at construction so a bad spec never leaves a half-written tree."""
        for field in ("exudate_photographs", "exudate_healthy", "microaneurysm_photographs",
                      "microaneurysm_healthy", "shared_photographs", "seed"):
            value = getattr(self, field)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"{field} must be a non-negative int, got {value!r}")
        if not isinstance(self.photographs_per_patient, int) or self.photographs_per_patient < 1:
            raise ValueError(f"photographs_per_patient must be a positive int, got {self.photographs_per_patient!r}")
        if self.shared_photographs > min(self.exudate_photographs, self.microaneurysm_photographs):
            raise ValueError(
                f"shared_photographs ({self.shared_photographs}) exceeds exudate_photographs "
                f"({self.exudate_photographs}) or microaneurysm_photographs ({self.microaneurysm_photographs})")
        if not self.sizes:
            raise ValueError("sizes must hold at least one (width, height)")
        for size in self.sizes:
            if (len(size) != 2 or not all(isinstance(v, int) for v in size) or min(size) < 32):
                raise ValueError(f"sizes must be (width, height) int pairs of at least 32 pixels, got {size!r}")


@dataclasses.dataclass(frozen=True)
class SyntheticFundus:
    """A rendered photograph with the ground truth a test needs to check it."""

    image: np.ndarray  # HxWx3 uint8 RGB
    exudate_mask: np.ndarray  # HxW uint8 0/255
    microaneurysm_mask: np.ndarray  # HxW uint8 0/255
    disc: tuple[float, float, float]  # field of view (centre_y, centre_x, radius); pixel (y, x) is inside
    # when (y - centre_y)**2 + (x - centre_x)**2 <= radius**2


@dataclasses.dataclass(frozen=True)
class SyntheticPhotograph:
    """One written photograph, as a test would want to look it up."""

    patient: str
    stem: str
    paths: tuple[str, ...]  # photograph paths relative to root, '/'-separated (two when shared)
    exudate_mask: str | None  # relative mask path, None when no exudate annotation was written
    microaneurysm_mask: str | None
    size: tuple[int, int]  # (width, height)
    disc: tuple[float, float, float]


def render_fundus(rng: np.random.Generator, width: int, height: int, *, exudates: bool, microaneurysms: bool,
                  dim: bool = False, cut_off: bool | None = None) -> SyntheticFundus:
    """Render one photograph; lesions are drawn last so they are the only change they make.

    All background randomness is drawn before any lesion randomness, so the same
    generator state with and without lesions gives identical pixels outside the
    lesion masks.  `cut_off=None` cuts the field of view at top and bottom in
    about 40 % of photographs, as e-ophtha's cameras often do.  `dim` makes a
    much darker photograph, for testing field-of-view detection.

    Args:
      rng: the generator every random choice draws from (it is advanced).
      width: the photograph's width in pixels.
      height: its height in pixels.
      exudates: draw exudate clusters (and their mask).
      microaneurysms: draw microaneurysms (and their mask), never on an exudate.
      dim: scale the illumination down to a mean red of 64-84 inside the disc.
      cut_off: a disc taller than the photograph (True), wholly inside it (False), or either (None).

    Returns:
      The photograph with its masks (all zero for a type not drawn) and its disc.
    """
    if cut_off is None:
        cut_off = bool(rng.random() < 0.4)
    disc = _field_of_view(rng, width, height, cut_off)
    centre_y, centre_x, radius = disc
    rows = np.arange(height, dtype=np.float32)[:, None] - np.float32(centre_y)
    cols = np.arange(width, dtype=np.float32)[None, :] - np.float32(centre_x)
    distance = np.sqrt(rows * rows + cols * cols)  # from the field-of-view centre

    image = _retina_background(rng, distance, radius)
    gain = 1.0
    if dim:  # scale the illumination so the retina's mean red lands on a target, whatever its base colour
        red = image[::4, ::4, 0][distance[::4, ::4] <= radius]
        gain = rng.uniform(64.0, 84.0) / float(red.mean())
        image *= np.float32(gain)
    optic_disc, optic_disc_radius = _add_optic_disc_and_macula(rng, image, disc, gain)
    _add_vessels(rng, image, disc, optic_disc)

    # Field-of-view edge, one pixel soft, over a near-black border; film grain everywhere.
    border = rng.uniform(0.0, 4.0)
    inside = np.clip(np.float32(radius + 0.5) - distance, 0.0, 1.0)[..., None]
    image = image * inside + np.float32(border) * (1.0 - inside)
    image += rng.standard_normal((height, width), dtype=np.float32)[..., None] * np.float32(1.2)

    interior = distance <= radius - 1.0  # lesions keep a pixel off the rim so they are wholly in the disc
    exudate_mask = np.zeros((height, width), np.uint8)
    microaneurysm_mask = np.zeros((height, width), np.uint8)
    if exudates:
        exudate_mask = _draw_exudates(rng, image, interior, disc, optic_disc, optic_disc_radius, gain)
    if microaneurysms:
        microaneurysm_mask = _draw_microaneurysms(rng, image, interior & (exudate_mask == 0), disc,
                                                  optic_disc, optic_disc_radius, gain)

    image = np.clip(image + 0.5, 0.0, 255.0).astype(np.uint8)
    return SyntheticFundus(image, exudate_mask, microaneurysm_mask, disc)


def write_synthetic_eophtha(root: str | os.PathLike,
                            spec: SyntheticEophtha = SyntheticEophtha()) -> list[SyntheticPhotograph]:
    """Write a synthetic e-ophtha tree under `root`; same spec, same bytes.

    Each photograph draws from its own generator seeded by (spec.seed, index),
    so a photograph does not depend on the others.  Refuses a non-empty
    e_optha_EX or e_optha_MA folder rather than mixing two trees.

    Args:
      root: the folder to hold e_optha_EX/ and e_optha_MA/; created with its parents.
      spec: what to write.

    Returns:
      One SyntheticPhotograph per photograph written (a shared one once, with both paths).

    Raises:
      ValueError: e_optha_EX or e_optha_MA already exists under root and is not empty.
    """
    root = pathlib.Path(root)
    for name in (EXUDATE_ROOT, MICROANEURYSM_ROOT):
        folder = root / name
        if folder.exists() and any(folder.iterdir()):
            raise ValueError(f"refusing to write into non-empty {folder}")
    root.mkdir(parents=True, exist_ok=True)

    written = []
    for index, (patient, folders, exudates, microaneurysms) in enumerate(_plan(spec)):
        rng = np.random.default_rng((spec.seed, index))
        width, height = spec.sizes[rng.integers(len(spec.sizes))]
        fundus = render_fundus(rng, width, height, exudates=exudates, microaneurysms=microaneurysms,
                               dim=bool(rng.random() < 0.2))
        stem = f"DS{index + 1:06d}" if index // 2 % 2 else f"C{index + 1:07d}"
        extension = ".JPG" if index % 2 else ".jpg"
        jpeg = cv2.imencode(".jpg", cv2.cvtColor(fundus.image, cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY])[1]
        paths = tuple(f"{folder}/{patient}/{stem}{extension}" for folder in folders)
        for path in paths:
            _write(root / path, jpeg.tobytes())
        if index == 0:
            (root / paths[0]).parent.joinpath("Thumbs.db").write_bytes(_THUMBS_DB)
        exudate_path = f"{EXUDATE_ROOT}/Annotation_EX/{patient}/{stem}_EX.png" if exudates else None
        microaneurysm_path = f"{MICROANEURYSM_ROOT}/Annotation_MA/{patient}/{stem}.png" if microaneurysms else None
        for path, mask in ((exudate_path, fundus.exudate_mask), (microaneurysm_path, fundus.microaneurysm_mask)):
            if path is not None:
                _write(root / path, cv2.imencode(".png", mask)[1].tobytes())
        written.append(SyntheticPhotograph(patient, stem, paths, exudate_path, microaneurysm_path,
                                           (width, height), fundus.disc))
    return written


def _plan(spec: SyntheticEophtha) -> list[tuple[str, tuple[str, ...], bool, bool]]:
    """(patient, photograph folders, exudates, microaneurysms) per photograph, patients never crossing groups."""
    groups = (
        (spec.shared_photographs, (f"{EXUDATE_ROOT}/EX", f"{MICROANEURYSM_ROOT}/MA"), True, True),
        (spec.exudate_photographs - spec.shared_photographs, (f"{EXUDATE_ROOT}/EX",), True, False),
        (spec.exudate_healthy, (f"{EXUDATE_ROOT}/healthy",), False, False),
        (spec.microaneurysm_photographs - spec.shared_photographs, (f"{MICROANEURYSM_ROOT}/MA",), False, True),
        (spec.microaneurysm_healthy, (f"{MICROANEURYSM_ROOT}/healthy",), False, False),
    )
    plan = []
    patients = 0
    for count, folders, exudates, microaneurysms in groups:
        for i in range(count):
            if i % spec.photographs_per_patient == 0:
                patients += 1
            plan.append((f"E{patients:07d}", folders, exudates, microaneurysms))
    return plan


def _write(path: pathlib.Path, data: bytes) -> None:
    """Create the parent folders on the way, as every e-ophtha file sits in a patient folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _field_of_view(rng: np.random.Generator, width: int, height: int, cut_off: bool) -> tuple[float, float, float]:
    """Circle either wholly inside the frame or taller than it, never grazing the top and bottom rows."""
    short = min(width, height)
    if cut_off:
        radius = rng.uniform(0.545, 0.62) * short
        centre_y = (height - 1) / 2 + rng.uniform(-0.02, 0.02) * height
    else:
        radius = rng.uniform(0.44, 0.485) * short
        centre_y = (height - 1) / 2 + rng.uniform(-0.5, 0.5) * (height / 2 - radius - 1.5)
    centre_x = (width - 1) / 2 + rng.uniform(-0.5, 0.5) * max(0.0, width / 2 - radius - 2.0)
    return float(centre_y), float(centre_x), float(radius)


def _retina_background(rng: np.random.Generator, distance: np.ndarray, radius: float) -> np.ndarray:
    """Orange-red retina: vignetting to the rim, slow illumination drift and faint choroidal texture."""
    height, width = distance.shape
    rgb = np.array([rng.uniform(200, 240), rng.uniform(85, 125), rng.uniform(22, 48)], np.float32)
    strength, power = rng.uniform(0.35, 0.55), rng.uniform(2.5, 3.5)
    shade = 1.0 - np.float32(strength) * np.minimum(distance * np.float32(1.0 / radius), 1.0) ** np.float32(power)
    drift = rng.standard_normal((4, 6)).astype(np.float32)
    shade *= 1.0 + 0.07 * cv2.resize(drift, (width, height), interpolation=cv2.INTER_CUBIC)
    texture = rng.standard_normal((height // 4 + 2, width // 4 + 2), dtype=np.float32)
    shade *= 1.0 + 0.025 * cv2.resize(texture, (width, height), interpolation=cv2.INTER_LINEAR)
    return shade[..., None] * rgb


def _add_optic_disc_and_macula(rng: np.random.Generator, image: np.ndarray, disc: tuple[float, float, float],
                               gain: float) -> tuple[np.ndarray, float]:
    """Bright yellowish optic disc off-centre, darker macula beside it; returns the optic disc (y, x), radius."""
    centre_y, centre_x, radius = disc
    side = 1.0 if rng.random() < 0.5 else -1.0  # left or right eye
    optic_disc = np.array([centre_y + rng.uniform(-0.08, 0.08) * radius,
                           centre_x + side * rng.uniform(0.25, 0.38) * radius])
    optic_disc_radius = rng.uniform(0.08, 0.1) * radius
    macula = optic_disc + np.array([rng.uniform(0.0, 0.05), -side * rng.uniform(0.4, 0.5)]) * radius
    depth = rng.uniform(0.15, 0.3)
    spread = 1.3 * optic_disc_radius

    def profile(centre: np.ndarray, extent: float,
                falloff: Callable[[np.ndarray], np.ndarray]) -> tuple[tuple[slice, slice], np.ndarray]:
        """Window around `centre` (no full-frame work) and `falloff` of its squared distance in `extent` units."""
        top, left = (max(0, int(c - 3 * extent)) for c in centre)
        bottom = min(image.shape[0], int(centre[0] + 3 * extent) + 2)
        right = min(image.shape[1], int(centre[1] + 3 * extent) + 2)
        ys = (np.arange(top, bottom, dtype=np.float32)[:, None] - np.float32(centre[0])) / np.float32(extent)
        xs = (np.arange(left, right, dtype=np.float32)[None, :] - np.float32(centre[1])) / np.float32(extent)
        return (slice(top, bottom), slice(left, right)), falloff(ys * ys + xs * xs)

    window, dark = profile(macula, spread, lambda r2: np.float32(depth) * np.exp(-r2))
    image[window] *= (1.0 - dark)[..., None]
    window, bright = profile(optic_disc, optic_disc_radius, lambda r2: 0.92 / (1.0 + r2 ** 4))
    image[window] += (_OPTIC_DISC_RGB * np.float32(gain) - image[window]) * bright[..., None]
    return optic_disc, optic_disc_radius


def _add_vessels(rng: np.random.Generator, image: np.ndarray, disc: tuple[float, float, float],
                 optic_disc: np.ndarray) -> None:
    """Dark red vessel tree from the optic disc: arcades bending round the macula, thinner nasal vessels."""
    centre_y, centre_x, radius = disc
    layer = np.zeros(image.shape[:2], np.uint8)
    step = max(1.5, 0.04 * radius)
    width = max(0.6, 0.016 * radius)
    towards_macula = math.pi if optic_disc[1] > centre_x else 0.0  # angle 0 points along +x

    def grow(start: np.ndarray, angle: float, turn: float, length: float, start_width: float,
             strength: float, depth: int) -> None:
        """Random-walk one vessel, draw it tapering, and let branches sprout from it."""
        steps = max(2, int(length / step))
        angles = angle + np.cumsum(turn + rng.normal(0.0, 0.12, steps))
        points = start + step * np.cumsum(np.stack([np.sin(angles), np.cos(angles)], axis=1), axis=0)
        points = np.concatenate([start[None], points])
        outside = np.hypot(points[:, 0] - centre_y, points[:, 1] - centre_x) > 0.97 * radius
        if outside.any():
            points = points[:max(2, int(np.argmax(outside)))]
        widths = np.linspace(start_width, max(0.5, start_width * 0.35), len(points))
        _draw_tapering(layer, points, widths, strength)
        if depth < 2:
            for _ in range(rng.integers(1, 4 - depth)):
                at = rng.integers(1, max(2, len(points) - 1))
                grow(points[at], float(angles[at - 1] + rng.choice([-1, 1]) * rng.uniform(0.4, 0.9)),
                     rng.normal(0.0, 0.02), 0.6 * (len(points) - at) * step + 0.2 * radius,
                     0.65 * widths[at], strength * rng.uniform(0.85, 1.0), depth + 1)

    for side in (-1.0, 1.0):
        for vessel_width, strength in ((width, rng.uniform(0.85, 1.0)), (0.8 * width, rng.uniform(0.6, 0.75))):
            spread = rng.uniform(1.0, 1.6)
            length = rng.uniform(0.9, 1.3) * radius
            grow(optic_disc.copy(), towards_macula + side * spread, -side * spread / (length / step),
                 length, vessel_width, strength, 0)
        grow(optic_disc.copy(), towards_macula + math.pi + side * rng.uniform(0.3, 0.9), rng.normal(0.0, 0.01),
             rng.uniform(0.6, 0.9) * radius, 0.7 * width, rng.uniform(0.6, 0.9), 1)
    vessels = layer.astype(np.float32) * np.float32(1.0 / 255.0)
    image *= 1.0 - vessels[..., None] * _VESSEL_DARKENING


def _draw_tapering(layer: np.ndarray, points: np.ndarray, widths: np.ndarray, strength: float) -> None:
    """Anti-aliased polyline whose thickness steps down along it; thinner than a pixel means fainter."""
    xy = np.round(points[:, ::-1] * _SCALE).astype(np.int32)
    thickness = np.maximum(1, np.round(widths[:-1])).astype(int)
    value = np.round(255 * strength * np.minimum(1.0, widths[:-1])).astype(int)
    start = 0
    for end in range(1, len(thickness) + 1):
        if end == len(thickness) or thickness[end] != thickness[start] or value[end] != value[start]:
            cv2.polylines(layer, [xy[start:end + 1]], False, int(value[start]), int(thickness[start]),
                          cv2.LINE_AA, _FIXED_POINT)
            start = end


def _sample_sites(rng: np.random.Generator, count: int, allowed: np.ndarray, disc: tuple[float, float, float],
                  reach: float, optic_disc: np.ndarray, keep_off: float, spacing: float = 0.0) -> np.ndarray:
    """Up to `count` integer (y, x) sites on `allowed` pixels within `reach` of the disc radius.

    Sites keep `keep_off` from the optic disc and `spacing` from each other; a
    crowded small image may get fewer, but always at least one.
    """
    centre_y, centre_x, radius = disc
    height, width = allowed.shape
    sites: list[tuple[int, int]] = []
    rounds = 0
    while not sites or (len(sites) < count and rounds < 50):
        rounds += 1
        angle = rng.uniform(0.0, 2 * math.pi, 4 * count + 16)
        distance = reach * radius * np.sqrt(rng.random(4 * count + 16))
        ys = np.round(centre_y + distance * np.sin(angle)).astype(np.int64)
        xs = np.round(centre_x + distance * np.cos(angle)).astype(np.int64)
        ok = (ys >= 0) & (ys < height) & (xs >= 0) & (xs < width)
        ys, xs = ys[ok], xs[ok]
        ok = allowed[ys, xs] & (np.hypot(ys - optic_disc[0], xs - optic_disc[1]) > keep_off)
        for y, x in zip(ys[ok].tolist(), xs[ok].tolist()):
            if len(sites) < count and all(math.hypot(y - v, x - u) >= spacing for v, u in sites):
                sites.append((y, x))
    return np.array(sites, np.int64)


def _draw_exudates(rng: np.random.Generator, image: np.ndarray, interior: np.ndarray,
                   disc: tuple[float, float, float], optic_disc: np.ndarray, optic_disc_radius: float,
                   gain: float) -> np.ndarray:
    """Yellow clusters of overlapping ellipses; the mask is drawn first and only its pixels are recoloured."""
    height, width = interior.shape
    clusters = int(rng.integers(3, 16))
    smallest = max(1.5, 0.003 * width)
    sizes = np.exp(rng.uniform(math.log(smallest), math.log(max(smallest, 0.02 * width)), clusters))
    sites = _sample_sites(rng, clusters, interior, disc, 0.85, optic_disc, 1.5 * optic_disc_radius + sizes.max())
    opacity = np.zeros((height, width), np.uint8)  # per-cluster blend weight, 0 off the lesions
    for (y, x), size in zip(sites, sizes):
        blobs = int(rng.integers(2, 8))
        axes = np.maximum(1.0, rng.uniform(0.25, 0.6, (blobs, 2)) * size)
        alpha = int(round(255 * rng.uniform(0.75, 0.95)))
        centres = [np.array([y, x], np.float64)]
        for i in range(1, blobs):  # each blob centred inside an earlier one, so the cluster is one piece
            parent = int(rng.integers(i))
            angle = rng.uniform(0.0, 2 * math.pi)
            reach = rng.uniform(0.3, 0.9) * axes[parent].min()
            centres.append(centres[parent] + reach * np.array([math.sin(angle), math.cos(angle)]))
        for (cy, cx), (ay, ax), tilt in zip(centres, axes, rng.uniform(0, 180, blobs)):
            cv2.ellipse(opacity, (int(round(cx * _SCALE)), int(round(cy * _SCALE))),
                        (int(ax * _SCALE), int(ay * _SCALE)), float(tilt), 0, 360, alpha, -1, cv2.LINE_8,
                        _FIXED_POINT)
    opacity[~interior] = 0
    colour = (_EXUDATE_RGB + rng.normal(0.0, 6.0, 3).astype(np.float32)) * np.float32(gain)
    return _recolour(image, opacity, colour)


def _draw_microaneurysms(rng: np.random.Generator, image: np.ndarray, allowed: np.ndarray,
                         disc: tuple[float, float, float], optic_disc: np.ndarray, optic_disc_radius: float,
                         gain: float) -> np.ndarray:
    """Dark red dots of 1-3 px radius at e-ophtha's 1440 px width, never under one pixel at small sizes."""
    height, width = allowed.shape
    count = int(rng.integers(3, 21))
    # Sites keep a pixel clear of exudates so a dot never overlaps an exudate mask.
    clear = cv2.erode(allowed.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    largest = max(1.0, 3.0 * math.sqrt(width / 1440))
    # Dots stay apart so each is its own connected component, i.e. its own instance.
    sites = _sample_sites(rng, count, clear, disc, 0.9, optic_disc, 2.0 * optic_disc_radius,
                          spacing=2 * math.ceil(largest) + 3)
    radii = np.maximum(1.0, rng.uniform(1.0, 3.0, len(sites)) * math.sqrt(width / 1440))
    alphas = np.round(255 * rng.uniform(0.8, 1.0, len(sites))).astype(int)
    opacity = np.zeros((height, width), np.uint8)
    for (y, x), radius, alpha in zip(sites, radii, alphas):
        cv2.circle(opacity, (int(x) * _SCALE, int(y) * _SCALE), int(radius * _SCALE), int(alpha), -1,
                   cv2.LINE_8, _FIXED_POINT)
    opacity[~allowed] = 0
    return _recolour(image, opacity, _MICROANEURYSM_RGB * np.float32(gain))


def _recolour(image: np.ndarray, opacity: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """Blend towards `colour` on the pixels where `opacity` > 0 and nowhere else; returns the 0/255 mask."""
    mask = opacity > 0
    weight = opacity[mask].astype(np.float32)[:, None] * np.float32(1.0 / 255.0)
    image[mask] += (colour - image[mask]) * weight
    return mask.astype(np.uint8) * np.uint8(255)
