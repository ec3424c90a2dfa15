"""Optimisers with parameter groups: backbone, heads, and the loss's own parameters.

GLQINet trains the backbone at 0.003 and the rest at 0.01 (`optim.backbone_lr`); a parameter
belongs to the backbone when its name starts with `optim.backbone_prefix`. Learnable loss
parameters (InfoNCE's logit scale) get the head lr and no weight decay.
"""

from __future__ import annotations

import torch
from torch import nn

OPTIMIZERS = ("adamw", "adam", "sgd")


def param_groups(model: nn.Module, loss: nn.Module | None, cfg) -> list[dict]:
    backbone, heads = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (backbone if name.startswith(cfg.backbone_prefix) else heads).append(p)
    groups = []
    if backbone:
        lr = cfg.backbone_lr if cfg.backbone_lr is not None else cfg.lr
        groups.append({"name": "backbone", "params": backbone, "lr": lr})
    if heads:
        groups.append({"name": "heads", "params": heads, "lr": cfg.lr})
    extra = [p for p in loss.parameters() if p.requires_grad] if loss is not None else []
    if extra:
        groups.append({"name": "loss", "params": extra, "lr": cfg.lr, "weight_decay": 0.0})
    if not groups:
        raise ValueError("the model has no trainable parameters")
    return groups


def build_optimizer(model: nn.Module, loss: nn.Module | None, cfg) -> torch.optim.Optimizer:
    groups = param_groups(model, loss, cfg)
    name = cfg.name.lower()
    if name == "adamw":
        return torch.optim.AdamW(
            groups, lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay
        )
    if name == "adam":
        return torch.optim.Adam(
            groups, lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay
        )
    if name == "sgd":
        return torch.optim.SGD(
            groups,
            lr=cfg.lr,
            momentum=cfg.momentum,
            nesterov=cfg.nesterov,
            weight_decay=cfg.weight_decay,
        )
    raise KeyError(f"unknown optimizer {cfg.name!r}; known: {', '.join(OPTIMIZERS)}")
