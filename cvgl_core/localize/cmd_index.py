"""Build or inspect a saved gallery index of satellite tiles.

    python -m cvgl_core index build --checkpoint RUN/best.pt [--data ROOT] [--split test] \
        --out gallery.idx
    python -m cvgl_core index build --checkpoint RUN/best.pt --tiles tiles.csv --out gallery.idx
    python -m cvgl_core index info gallery.idx

A tile CSV has a `file` column (relative to the CSV) and lat,lon or x,y (metres) columns.
"""

from __future__ import annotations


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    b = sub.add_parser("build", help="describe the tiles with a checkpoint's model and save")
    b.add_argument("--checkpoint", required=True, help="best.pt / last.pt of a training run")
    b.add_argument(
        "--data",
        default=None,
        help="dataset root (default: the config's root or the synthetic world of its profile)",
    )
    b.add_argument(
        "--split",
        default=None,
        help="split whose reference tiles are indexed (default: the config's eval split)",
    )
    b.add_argument("--tiles", default=None, help="a CSV of tile files instead of a dataset")
    b.add_argument("--out", required=True, help="the index folder to write, e.g. gallery.idx")
    b.add_argument("--dtype", choices=("float16", "float32"), default="float16")
    b.add_argument("--ivfpq", action="store_true", help="also train and store an IVF-PQ index")
    b.add_argument("--batch-size", type=int, default=64)
    b.add_argument("--overwrite", action="store_true")
    i = sub.add_parser("info", help="print what an index holds")
    i.add_argument("index")


def run(args) -> int:
    from cvgl_core.localize.build import build_index, build_index_from_folder
    from cvgl_core.localize.index import Index

    if args.action == "info":
        index = Index.load(args.index)
        print(index)
        print(
            f"checkpoint: {index.meta['checkpoint']['path']} "
            f"(sha256 {str(index.meta['checkpoint']['sha256'])[:12]})"
        )
        print(f"source: {index.meta['source']}")
        return 0
    if args.tiles and (args.data or args.split):
        raise ValueError("give either --tiles CSV or --data/--split, not both")
    if args.tiles:
        index = build_index_from_folder(
            args.checkpoint, args.tiles, dtype=args.dtype, batch_size=args.batch_size
        )
        if args.ivfpq:
            index.add_ivfpq()
    else:
        index = build_index(
            args.checkpoint,
            args.data,
            args.split,
            dtype=args.dtype,
            batch_size=args.batch_size,
            ivfpq=args.ivfpq,
        )
    index.save(args.out, overwrite=args.overwrite)
    print(f"wrote {args.out}: {index}")
    return 0
