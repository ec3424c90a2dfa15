"""Difficulty knobs of the synthetic world (docs/design.md, "The synthetic world").

Difficulty is a set of named numbers, not an accident of the generator. Every knob is a
float; 0 switches the effect off. The defaults are the calibration of the `cpu` profile
(recorded in notebooks/00_data_tour.ipynb); tune them with `write_dataset(..., knob=value)`
or `python -m cvgl_core synth ... --knob name=value`.

| knob           | what it does                                                    | default |
|----------------|-----------------------------------------------------------------|---------|
| season_shift   | season/palette tint of ground and vegetation per capture        | 0.5     |
| lighting       | brightness, colour cast and sun direction per capture           | 0.5     |
| noise          | sensor noise; std 0.08 (of full range) at 1.0                   | 0.3     |
| blur           | Gaussian blur; sigma 1.5 output px at 1.0                       | 0.3     |
| repetitiveness | 0: every building its own colours/size; 1: one shared style     | 0.3     |
| occlusion      | trees (density x 2*occlusion), transient vehicles/poles         | 0.5     |
| shadows        | strength of cast shadows in satellite tiles                     | 0.5     |
| vigor_offset   | VIGOR: panorama offset from tile centre (1 = anywhere in the    | 0.0     |
|                | positive quarter, as real VIGOR; 0 = at the centre). At 1, 0.3  |         |
|                | and 0.15 the baseline stays within 25x chance at cpu, and at 1  |         |
|                | at chance even after 150 steps (notebook 00); at 0 it learns    |         |
| zoom_shift     | CVACT-like satellite zoom beyond CVUSA-like's, in zoom levels:  | 1.0     |
|                | its tiles cover 96 / 2**zoom_shift m (real CVACT is zoom 20,    |         |
|                | CVUSA zoom 19: one level). The CVUSA->CVACT domain shift        |         |
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass


@dataclass(frozen=True)
class Knobs:
    season_shift: float = 0.5
    lighting: float = 0.5
    noise: float = 0.3
    blur: float = 0.3
    repetitiveness: float = 0.3
    occlusion: float = 0.5
    shadows: float = 0.5
    vigor_offset: float = 0.0
    zoom_shift: float = 1.0

    def __post_init__(self):
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if not isinstance(v, int | float) or not 0.0 <= float(v) <= 1.0:
                raise ValueError(f"knob {f.name}={v!r} must be a number in [0, 1]")

    def as_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in dataclasses.asdict(self).items()}


KNOB_NAMES = tuple(f.name for f in dataclasses.fields(Knobs))


def make_knobs(**overrides) -> Knobs:
    """Knobs with `overrides`; an unknown name is rejected with the closest known one."""
    for key in overrides:
        if key not in KNOB_NAMES:
            close = difflib.get_close_matches(key, KNOB_NAMES, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise KeyError(f"unknown knob {key!r}.{hint} Known: {', '.join(KNOB_NAMES)}")
    return Knobs(**{k: float(v) for k, v in overrides.items()})


# Knobs that make every capture of a place identical: for geometry tests and figures.
CLEAN = dict(season_shift=0.0, lighting=0.0, noise=0.0, blur=0.0, shadows=0.0, occlusion=0.0)
