"""Localize photos with a saved gallery index: print each photo's top-k tiles.

    python -m cvgl_core localize --index gallery.idx PHOTO... [--view ground|drone]
        [--fov 90 --heading DEG] [--top 5] [--figure out.png] [--at LAT,LON]

Per photo: rank, tile, coordinates, score and, when the true location is known (VIGOR-style
'<id>,<lat>,<lng>,.jpg' names, or --at), the distance error in metres.
"""

from __future__ import annotations

import sys
from pathlib import Path


def add_arguments(parser) -> None:
    parser.add_argument("photos", nargs="+", metavar="PHOTO", help="image files to localize")
    parser.add_argument("--index", required=True, help="folder written by `index build`")
    parser.add_argument(
        "--checkpoint",
        default=None,
        help="model checkpoint (default: the one the index was built with)",
    )
    parser.add_argument(
        "--view",
        choices=("ground", "drone"),
        default=None,
        help="the photos' view (default and only choice: the index's)",
    )
    parser.add_argument("--fov", type=float, default=None, help="ground: crop this many degrees")
    parser.add_argument(
        "--heading",
        type=float,
        default=None,
        help="ground: centre of the crop, degrees clockwise from north",
    )
    parser.add_argument("--top", type=int, default=5)
    parser.add_argument("--backend", choices=("exact", "flat", "ivfpq"), default="exact")
    parser.add_argument("--at", default=None, help="true location 'A,B' (lat,lon or x,y)")
    parser.add_argument(
        "--figure",
        default=None,
        help="write photo, top-k tiles and Grad-CAM (one PNG per photo: out.png, out_2.png, ...)",
    )


def _fmt(xy, kind) -> str:
    if xy is None:
        return "-"
    digits = 6 if kind == "latlon" else 1  # ~0.1 m either way
    return f"{xy[0]:.{digits}f},{xy[1]:.{digits}f}"


def run(args) -> int:
    from cvgl_core.data.base import CorruptImageError
    from cvgl_core.localize.geo import parse_point
    from cvgl_core.localize.index import Index

    if args.top < 1:
        raise ValueError(f"--top must be >= 1, got {args.top}")
    index = Index.load(args.index)
    model = index.load_model(args.checkpoint)
    truth = parse_point(args.at) if args.at else None
    status = 0
    for n, photo in enumerate(args.photos):
        try:
            matches = index.search(
                model,
                photo,
                args.top,
                view=args.view,
                fov=args.fov,
                heading=args.heading,
                truth=truth,
                backend=args.backend,
            )
        except (CorruptImageError, FileNotFoundError) as e:
            print(f"error: {e}", file=sys.stderr)
            status = 2
            continue
        print(photo)
        print(f"  {'rank':>4}  {'score':>6}  {'coordinates':<24} {'error':>9}  tile")
        for m in matches:
            err = "-" if m.error_m is None else f"{m.error_m:.1f} m"
            xy = _fmt(m.coords, index.coord_kind)
            print(f"  {m.rank:>4}  {m.score:6.3f}  {xy:<24} {err:>9}  {m.tile}")
        if args.figure:
            from cvgl_core.localize.figure import localize_figure

            out = Path(args.figure)
            if n:
                out = out.with_name(f"{out.stem}_{n + 1}{out.suffix}")
            localize_figure(
                index, model, photo, matches, fov=args.fov, heading=args.heading, path=out
            )
            print(f"  figure: {out}")
    return status
