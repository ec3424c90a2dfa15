"""Distances between gallery coordinates and the localisation metrics built on them.

Coordinates come in one of three kinds, fixed per gallery:
* "latlon": (latitude, longitude) degrees (VIGOR file names; the synthetic VIGOR-like world);
  distances by the haversine formula on a sphere of radius 6,371,008.8 m (the mean Earth radius).
* "metres": planar (easting, northing) metres (CVACT's UTM; a folder of tiles with x, y);
  euclidean distances.
* None: no coordinates (CVUSA; University-1652 and SUES-200, whose galleries carry building
  ids instead, scored by recall only).

The thresholds (25 m, 50 m, 100 m, 1 km) are the ones of the fine-grained VIGOR
localisation literature and CVACT's 25 m positive radius; the share of queries whose top-1
tile lies within each is reported next to recall.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

EARTH_RADIUS_M = 6_371_008.8
COORD_KINDS = ("latlon", "metres")
THRESHOLDS_M = (25.0, 50.0, 100.0, 1000.0)


def distance_m(a, b, kind: str) -> np.ndarray:
    """Distance in metres between (..., 2) coordinate arrays of one `kind` (broadcast)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape[-1] != 2 or b.shape[-1] != 2:
        raise ValueError(f"coordinates must be (..., 2), got {a.shape} and {b.shape}")
    if kind == "metres":
        return np.hypot(a[..., 0] - b[..., 0], a[..., 1] - b[..., 1])
    if kind == "latlon":
        lat1, lon1, lat2, lon2 = map(np.deg2rad, (a[..., 0], a[..., 1], b[..., 0], b[..., 1]))
        h = (
            np.sin((lat2 - lat1) / 2) ** 2
            + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
        )
        return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))
    raise ValueError(f"coordinate kind {kind!r} unknown; known: {', '.join(COORD_KINDS)}")


def localization_metrics(errors_m, thresholds=THRESHOLDS_M) -> dict:
    """{"<=25m": %, "<=50m": %, "<=100m": %, "<=1km": %, "median_m": m} over the queries
    with a known error (NaN errors are left out; "located" counts the others)."""
    e = np.asarray(errors_m, dtype=np.float64).ravel()
    e = e[np.isfinite(e)]
    out: dict = {}
    for t in thresholds:
        name = f"<={t / 1000:g}km" if t >= 1000 else f"<={t:g}m"
        out[name] = float(100.0 * (e <= t).mean()) if len(e) else float("nan")
    out["median_m"] = float(np.median(e)) if len(e) else float("nan")
    out["located"] = int(len(e))
    return out


_VIGOR_PANO = re.compile(r"^[^,]+,(-?\d+(?:\.\d+)?),(-?\d+(?:\.\d+)?),")


def coords_from_name(path, kind: str | None):
    """The true (lat, lon) of a photo named as VIGOR names its panoramas
    ('<id>,<lat>,<lng>,.jpg'), for a "latlon" gallery; None otherwise."""
    if kind != "latlon":
        return None
    m = _VIGOR_PANO.match(Path(path).name)
    return (float(m.group(1)), float(m.group(2))) if m else None


def parse_point(text: str) -> tuple[float, float]:
    """'A,B' -> (A, B): a --at value."""
    try:
        a, b = (float(v) for v in str(text).split(","))
    except ValueError:
        raise ValueError(f"--at expects two numbers 'A,B' (lat,lon or x,y), got {text!r}") from None
    return a, b
