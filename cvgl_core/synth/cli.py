"""Write the synthetic world in a real dataset layout (CVUSA, CVACT, VIGOR, U-1652, SUES-200).

`python -m cvgl_core synth --layout cvusa --profile smoke --out DIR` writes DIR in the
CVUSA layout; `--layout all` writes DIR/<layout> for every layout. Same seed, same bytes.
"""

from __future__ import annotations

import argparse
import time

from cvgl_core.synth.api import LAYOUTS, write_dataset
from cvgl_core.synth.knobs import KNOB_NAMES


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--layout",
        required=True,
        metavar="NAME",
        help=f"one of {', '.join(LAYOUTS.names())}, or all (writes OUT/<layout> for each)",
    )
    p.add_argument(
        "--profile",
        default="smoke",
        metavar="NAME",
        help="smoke (tens of locations, 32-64 px, seconds) or cpu (hundreds, 64-128 px)",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="folder to write (must be empty)")
    p.add_argument("--seed", type=int, default=0, help="world seed; same seed, same bytes")
    p.add_argument(
        "--overwrite", action="store_true", help="replace OUT if it exists and is not empty"
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="with --layout all: write layouts in this many parallel processes",
    )
    p.add_argument(
        "--knob",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help=f"difficulty knob in [0, 1] (repeatable): {', '.join(KNOB_NAMES)}",
    )


def run(args: argparse.Namespace) -> int:
    knobs = {}
    for item in args.knob:
        if "=" not in item:
            raise ValueError(f"knob {item!r} is not of the form name=value")
        key, value = item.split("=", 1)
        try:
            knobs[key.strip()] = float(value)
        except ValueError:
            raise ValueError(f"knob {key.strip()!r}: {value!r} is not a number") from None
    t0 = time.perf_counter()
    counts = write_dataset(
        args.layout, args.out, args.profile, args.seed, args.overwrite, args.workers, **knobs
    )
    width = max(map(len, counts), default=0)
    for key, n in counts.items():
        print(f"{key:<{width}}  {n}")
    print(
        f"wrote {args.layout} ({args.profile}, seed {args.seed}) to {args.out} "
        f"in {time.perf_counter() - t0:.1f} s"
    )
    return 0
