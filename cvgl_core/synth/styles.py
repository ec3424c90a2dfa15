"""Area styles: what makes one synthetic town look unlike another.

A style fixes the palette of the ground cover, the road pattern, how dense and tall the
buildings are and which roof/wall colour pairs they use, and how many trees grow. Each
layout draws its towns from named styles so that same-area and cross-area evaluation
exist: CVUSA-like data comes from `suburb`, CVACT-like from `canberra`, the four
VIGOR-like cities from `lakeshore`, `metropolis`, `hillside` and `evergreen`, the
University-1652-like buildings from `campus` and the SUES-200-like ones from `sues_campus`.

Colours are linear RGB in [0, 1]. A material is a (roof, wall) pair: the two are
correlated (one building's roof and walls come from one material) but different, so a
model must learn the correspondence between what the satellite sees (roofs) and what the
street camera sees (walls).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

RGB = tuple[float, float, float]


@dataclass(frozen=True)
class AreaStyle:
    name: str
    description: str
    ground: tuple[RGB, ...]  # ground-cover palette, mixed by smooth noise
    water: float  # fraction of the town covered by ponds
    road_pattern: str  # grid | organic | radial
    road_spacing: tuple[float, float]  # m between parallel roads
    road_width: tuple[float, float]  # m
    road: RGB
    sidewalk: RGB
    angle: float | None  # grid angle in degrees; None: random per town
    building_density: float  # fraction of free block area covered by buildings (target)
    footprint: tuple[float, float]  # building side, m
    height: tuple[float, float]  # m (log-uniform)
    gable: float  # probability of a gable roof
    materials: tuple[tuple[RGB, RGB], ...]  # (roof, wall)
    tree_density: float  # trees per hectare at occlusion 0.5
    tree_radius: tuple[float, float]  # m
    tree_height: tuple[float, float]  # m
    canopy: tuple[RGB, ...]
    sky: tuple[RGB, RGB]  # (zenith, horizon)
    # satellite pass: sun azimuth range (degrees clockwise from north). Northern-hemisphere
    # towns see the sun in the south, so their shadows fall north; a southern-hemisphere
    # town (Canberra) sees it in the north and its shadows fall south.
    sun_azimuth: tuple[float, float] = (120.0, 240.0)
    # added to the `repetitiveness` knob (capped at 1): how alike the town's buildings are
    repetitiveness: float = 0.0


STYLES: dict[str, AreaStyle] = {}


def _add(style: AreaStyle) -> None:
    STYLES[style.name] = style


_add(
    AreaStyle(
        name="suburb",
        description="CVUSA-like: low houses on curving streets, lawns, many trees",
        ground=((0.33, 0.50, 0.22), (0.45, 0.55, 0.28), (0.52, 0.47, 0.33)),
        water=0.03,
        road_pattern="organic",
        road_spacing=(55.0, 90.0),
        road_width=(7.0, 10.0),
        road=(0.30, 0.30, 0.31),
        sidewalk=(0.62, 0.61, 0.58),
        angle=None,
        building_density=0.22,
        footprint=(9.0, 18.0),
        height=(4.0, 9.0),
        gable=0.7,
        materials=(
            ((0.55, 0.22, 0.18), (0.85, 0.80, 0.70)),
            ((0.30, 0.30, 0.34), (0.70, 0.75, 0.82)),
            ((0.45, 0.35, 0.25), (0.80, 0.68, 0.50)),
            ((0.20, 0.35, 0.25), (0.90, 0.90, 0.88)),
            ((0.60, 0.55, 0.50), (0.55, 0.35, 0.30)),
            ((0.25, 0.25, 0.28), (0.95, 0.85, 0.60)),
        ),
        tree_density=30.0,
        tree_radius=(2.0, 4.5),
        tree_height=(6.0, 14.0),
        canopy=((0.18, 0.35, 0.15), (0.25, 0.42, 0.18), (0.30, 0.38, 0.16)),
        sky=((0.35, 0.55, 0.85), (0.75, 0.85, 0.95)),
    )
)
_add(
    AreaStyle(
        name="canberra",
        description="CVACT-like: wide roads, dry grass, scattered low buildings, eucalypts",
        ground=((0.62, 0.58, 0.38), (0.50, 0.52, 0.32), (0.70, 0.62, 0.45)),
        water=0.02,
        road_pattern="radial",
        road_spacing=(70.0, 110.0),
        road_width=(9.0, 14.0),
        road=(0.36, 0.35, 0.34),
        sidewalk=(0.70, 0.66, 0.60),
        angle=None,
        building_density=0.16,
        footprint=(10.0, 24.0),
        height=(4.0, 12.0),
        gable=0.4,
        materials=(
            ((0.75, 0.75, 0.78), (0.80, 0.62, 0.45)),
            ((0.60, 0.30, 0.22), (0.92, 0.88, 0.80)),
            ((0.35, 0.45, 0.50), (0.75, 0.72, 0.68)),
            ((0.82, 0.80, 0.70), (0.50, 0.40, 0.35)),
            ((0.45, 0.42, 0.40), (0.95, 0.95, 0.95)),
        ),
        tree_density=20.0,
        tree_radius=(3.0, 6.0),
        tree_height=(8.0, 18.0),
        canopy=((0.32, 0.40, 0.28), (0.40, 0.45, 0.32)),
        sky=((0.25, 0.50, 0.90), (0.80, 0.88, 0.98)),
        sun_azimuth=(300.0, 420.0),  # southern hemisphere: the sun is in the north
    )
)
_add(
    AreaStyle(
        name="lakeshore",
        description="Chicago-like: regular grid, mid-rise brick and tall glass blocks",
        ground=((0.50, 0.50, 0.48), (0.35, 0.48, 0.25), (0.58, 0.56, 0.52)),
        water=0.0,
        road_pattern="grid",
        road_spacing=(60.0, 80.0),
        road_width=(10.0, 16.0),
        road=(0.28, 0.28, 0.30),
        sidewalk=(0.66, 0.65, 0.62),
        angle=0.0,
        building_density=0.45,
        footprint=(14.0, 30.0),
        height=(10.0, 60.0),
        gable=0.0,
        materials=(
            ((0.40, 0.38, 0.36), (0.55, 0.30, 0.22)),
            ((0.70, 0.70, 0.72), (0.40, 0.55, 0.65)),
            ((0.30, 0.28, 0.25), (0.75, 0.70, 0.60)),
            ((0.55, 0.50, 0.45), (0.30, 0.32, 0.38)),
        ),
        tree_density=8.0,
        tree_radius=(2.0, 3.5),
        tree_height=(5.0, 10.0),
        canopy=((0.20, 0.38, 0.18),),
        sky=((0.40, 0.55, 0.80), (0.78, 0.82, 0.88)),
    )
)
_add(
    AreaStyle(
        name="metropolis",
        description="NewYork-like: dense tall blocks, narrow streets, dark roofs",
        ground=((0.45, 0.45, 0.45), (0.52, 0.50, 0.47)),
        water=0.0,
        road_pattern="grid",
        road_spacing=(45.0, 60.0),
        road_width=(8.0, 12.0),
        road=(0.22, 0.22, 0.24),
        sidewalk=(0.58, 0.57, 0.55),
        angle=29.0,
        building_density=0.6,
        footprint=(12.0, 26.0),
        height=(15.0, 90.0),
        gable=0.0,
        materials=(
            ((0.20, 0.20, 0.22), (0.62, 0.45, 0.35)),
            ((0.35, 0.33, 0.30), (0.80, 0.78, 0.72)),
            ((0.15, 0.18, 0.22), (0.35, 0.45, 0.55)),
            ((0.45, 0.40, 0.35), (0.50, 0.25, 0.20)),
        ),
        tree_density=4.0,
        tree_radius=(1.5, 3.0),
        tree_height=(5.0, 9.0),
        canopy=((0.22, 0.36, 0.18),),
        sky=((0.45, 0.58, 0.78), (0.80, 0.82, 0.85)),
    )
)
_add(
    AreaStyle(
        name="hillside",
        description="SanFrancisco-like: rotated grid, pastel terraced houses, few trees",
        ground=((0.58, 0.55, 0.45), (0.45, 0.52, 0.30)),
        water=0.0,
        road_pattern="grid",
        road_spacing=(40.0, 70.0),
        road_width=(8.0, 11.0),
        road=(0.33, 0.32, 0.32),
        sidewalk=(0.72, 0.70, 0.66),
        angle=-12.0,
        building_density=0.5,
        footprint=(8.0, 16.0),
        height=(6.0, 20.0),
        gable=0.2,
        materials=(
            ((0.75, 0.72, 0.68), (0.95, 0.80, 0.70)),
            ((0.55, 0.50, 0.48), (0.70, 0.82, 0.90)),
            ((0.68, 0.60, 0.55), (0.95, 0.92, 0.70)),
            ((0.50, 0.45, 0.40), (0.85, 0.70, 0.85)),
            ((0.62, 0.62, 0.60), (0.75, 0.90, 0.78)),
        ),
        tree_density=6.0,
        tree_radius=(2.0, 3.5),
        tree_height=(5.0, 10.0),
        canopy=((0.25, 0.40, 0.22),),
        sky=((0.50, 0.65, 0.85), (0.85, 0.88, 0.90)),
    )
)
_add(
    AreaStyle(
        name="evergreen",
        description="Seattle-like: organic streets, dark conifers, wooden houses and some towers",
        ground=((0.22, 0.38, 0.20), (0.30, 0.42, 0.25), (0.40, 0.40, 0.36)),
        water=0.06,
        road_pattern="organic",
        road_spacing=(50.0, 80.0),
        road_width=(8.0, 12.0),
        road=(0.26, 0.27, 0.28),
        sidewalk=(0.55, 0.56, 0.55),
        angle=None,
        building_density=0.32,
        footprint=(10.0, 22.0),
        height=(6.0, 40.0),
        gable=0.5,
        materials=(
            ((0.25, 0.30, 0.28), (0.55, 0.42, 0.30)),
            ((0.40, 0.20, 0.18), (0.78, 0.78, 0.72)),
            ((0.50, 0.52, 0.55), (0.28, 0.38, 0.45)),
            ((0.30, 0.28, 0.25), (0.85, 0.75, 0.55)),
        ),
        tree_density=45.0,
        tree_radius=(2.0, 4.0),
        tree_height=(10.0, 22.0),
        canopy=((0.10, 0.25, 0.12), (0.14, 0.30, 0.16)),
        sky=((0.55, 0.62, 0.72), (0.80, 0.82, 0.84)),
    )
)
_add(
    AreaStyle(
        name="campus",
        description="University-1652-like: large distinct buildings, lawns and paths",
        ground=((0.35, 0.52, 0.25), (0.55, 0.53, 0.48), (0.42, 0.50, 0.30)),
        water=0.04,
        road_pattern="grid",
        road_spacing=(70.0, 110.0),
        road_width=(6.0, 10.0),
        road=(0.40, 0.38, 0.36),
        sidewalk=(0.72, 0.68, 0.62),
        angle=None,
        building_density=0.3,
        footprint=(14.0, 40.0),
        height=(8.0, 35.0),
        gable=0.3,
        materials=(
            ((0.65, 0.25, 0.20), (0.85, 0.78, 0.62)),
            ((0.30, 0.50, 0.45), (0.90, 0.90, 0.86)),
            ((0.70, 0.70, 0.72), (0.50, 0.30, 0.25)),
            ((0.25, 0.28, 0.40), (0.70, 0.72, 0.80)),
            ((0.55, 0.45, 0.30), (0.95, 0.82, 0.55)),
            ((0.80, 0.78, 0.70), (0.40, 0.48, 0.38)),
        ),
        tree_density=25.0,
        tree_radius=(2.0, 5.0),
        tree_height=(6.0, 15.0),
        canopy=((0.18, 0.36, 0.16), (0.26, 0.44, 0.20)),
        sky=((0.35, 0.55, 0.88), (0.78, 0.86, 0.95)),
    )
)

# SUES-200 is one university campus and its surroundings (Shanghai University of Engineering
# Science): rows of alike teaching and dormitory blocks, unlike University-1652's landmark
# buildings of 72 universities. A drone low over such a block sees a roof like many others;
# higher up it sees the neighbourhood, which is what tells the places apart (the altitude
# effect notebook 00 calibrates).
_add(
    dataclasses.replace(
        STYLES["campus"],
        name="sues_campus",
        description="SUES-200-like: one campus of alike teaching and dormitory blocks",
        repetitiveness=0.3,
    )
)

# VIGOR-like cities and the style each is drawn from.
VIGOR_CITIES: dict[str, str] = {
    "Chicago": "lakeshore",
    "NewYork": "metropolis",
    "SanFrancisco": "hillside",
    "Seattle": "evergreen",
}


def get_style(name: str) -> AreaStyle:
    if name not in STYLES:
        raise KeyError(f"unknown area style {name!r}; known: {', '.join(STYLES)}")
    return STYLES[name]
