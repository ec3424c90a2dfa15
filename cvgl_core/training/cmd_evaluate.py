"""Evaluate a checkpoint on the evaluation split of the config it was trained with.

    python -m cvgl_core evaluate --checkpoint CKPT [--config X.yaml] [--out M.json] [key=value ...]

The model and data config come from the checkpoint itself; `key=value` overrides change what
is evaluated (e.g. data.eval_split=test, data.root=/data/CVUSA, train.device=cpu). An explicit
--config must agree with the checkpoint on the model and on the dataset and its options (it is
refused with the differing keys otherwise); keys given as overrides may differ on purpose.
Prints the metrics; --out writes a JSON record: checkpoint path, sha256 and epoch, the config,
the data (dataset, root or synthetic world, split), protocol, direction and the metrics.
"""

from __future__ import annotations


def add_arguments(parser) -> None:
    parser.add_argument("--checkpoint", required=True, help="last.pt / best.pt of a training run")
    parser.add_argument(
        "--config",
        default=None,
        help="YAML config to check against the checkpoint's (default: the checkpoint's own)",
    )
    parser.add_argument("--out", default=None, help="write the JSON record to this file")
    parser.add_argument(
        "overrides", nargs="*", metavar="key=value", help="dotted overrides, values as YAML"
    )


# What must agree between an explicit --config and the checkpoint: what the weights are for.
# Training-only and location keys (epochs, lr, batch size, data.root, splits) may differ.
CHECKED_PREFIXES = ("model.", "data.dataset", "data.options.")
# Initialisation only: a restored model is built without ImageNet weights (every weight
# comes from the checkpoint), so a config that loads them does not contradict one that did not.
UNCHECKED_KEYS = ("model.kwargs.pretrained",)


def config_for_checkpoint(ckpt: dict, source: str, config=None, overrides=None):
    """The Config to evaluate checkpoint `ckpt` (read from `source`) with: its own stored
    config, or `config` (a YAML path) checked against it; `overrides` (key=value strings or
    a dict) apply to both and may differ from the checkpoint on purpose."""
    from cvgl_core.config import (
        config_diff,
        config_from_dict,
        format_diff,
        load_config,
        parse_overrides,
    )
    from cvgl_core.training.trainer import ConfigMismatchError

    overrides = overrides or {}
    if isinstance(overrides, (list, tuple)):
        overrides = parse_overrides(list(overrides))
    stored = ckpt.get("config")
    if config is None:
        if not stored:
            raise ValueError(
                f"{source} holds no config; pass the one it was trained with (--config)"
            )
        return config_from_dict(stored, overrides)
    cfg = load_config(config, overrides=overrides)
    if stored:
        diff = {
            k: v
            for k, v in config_diff(stored, cfg.to_dict()).items()
            if k.startswith(CHECKED_PREFIXES)
            and k not in UNCHECKED_KEYS
            and not any(k == o or k.startswith(o + ".") for o in overrides)
        }
        if diff:
            raise ConfigMismatchError(
                f"{config} contradicts the config stored in {source} "
                f"(checkpoint -> --config): {format_diff(diff)}; drop --config to use the "
                "checkpoint's, or give such keys as overrides on purpose"
            )
    return cfg


def run(args) -> int:
    import json

    from cvgl_core.training.experiment import evaluation_record
    from cvgl_core.training.trainer import load_checkpoint
    from cvgl_core.utils import atomic_write_text

    ckpt = load_checkpoint(args.checkpoint)
    cfg = config_for_checkpoint(ckpt, args.checkpoint, args.config, args.overrides)
    if args.out:  # a read-only folder fails now, not after the evaluation
        from pathlib import Path

        from cvgl_core.utils.io import check_parent_writable

        check_parent_writable(Path(args.out))
    record = evaluation_record(cfg, args.checkpoint, ckpt)
    print(json.dumps(record["metrics"], indent=2))
    if args.out:
        atomic_write_text(args.out, json.dumps(record, indent=2) + "\n")
    return 0
