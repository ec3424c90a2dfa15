"""`python -m cvgl_core <command>`: one entry point whose subcommands live beside their code.

Each command module provides `add_arguments(parser)` and `run(args) -> int`.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# command -> (module, one-line help). Modules are imported when the parser is built so
# that `--help` on each subcommand explains every option.
COMMANDS: dict[str, tuple[str, str]] = {
    "synth": ("cvgl_core.synth.cli", "write the synthetic world in a real dataset layout"),
    "notebooks": ("cvgl_core.runner", "execute the numbered notebooks with papermill"),
    "data": (
        "cvgl_core.data.check",
        "dataset tools (`data check NAME ROOT`)",
    ),
    "train": ("cvgl_core.training.cmd_train", "train an experiment from its YAML config"),
    "evaluate": ("cvgl_core.training.cmd_evaluate", "evaluate a checkpoint on its config's split"),
    "standin": ("cvgl_core.standin", "pretrain the cpu profile's synthetic ImageNet stand-in"),
    "weights": ("cvgl_core.weights", "download the pretrained weights the configs name (online)"),
    "index": ("cvgl_core.localize.cmd_index", "build or inspect a saved gallery index of tiles"),
    "localize": ("cvgl_core.localize.cmd_localize", "localize photos with a gallery index"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cvgl_core",
        description="cvgl-study: cross-view geo-localization study tools.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        mod = importlib.import_module(module)
        p = sub.add_parser(name, help=help_text, description=mod.__doc__.strip().splitlines()[0])
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except (KeyError, ValueError, OSError) as e:
        # One clear line for bad input (config, checkpoint, data, folders): the messages name
        # the path or key. Other exceptions are bugs and keep their traceback.
        print(f"error: {error_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "interrupted (started again, a training run resumes from its last checkpoint)",
            file=sys.stderr,
        )
        return 130


def error_line(e: BaseException) -> str:
    """One line for an expected error: KeyError without its quotes, OSError as 'path: why'
    (PermissionError, read-only file system, not a folder...), the rest as str(e)."""
    if isinstance(e, KeyError) and e.args:
        msg = str(e.args[0])
    elif isinstance(e, OSError) and e.filename is not None and e.strerror:
        msg = f"{e.filename}: {e.strerror}"
    else:
        msg = str(e) or type(e).__name__
    return " ".join(msg.split("\n")).strip()


if __name__ == "__main__":
    sys.exit(main())
