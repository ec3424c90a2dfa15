"""torch.distributed helpers: process-group setup from torchrun's environment, rank queries,
the one all-gather that contrastive losses use, and reductions of metrics to rank 0.

Launch: `torchrun --nproc_per_node=N -m cvgl_core train --config X.yaml` (gloo on CPU,
NCCL on CUDA). Without torchrun's variables everything degrades to one process.

Timeout: every collective waits at most `timeout_minutes` (train.dist_timeout_minutes, 60 by
default) for the slowest rank. NCCL's own default is 10 minutes, shorter than a VIGOR
same-area evaluation on one GPU (~12 min); evaluation is sharded over ranks (`shard_bounds`,
`gather_rows`) so each rank extracts 1/N of it, and the longer timeout covers the rest
(rank 0 alone computes the metrics while the others wait in the next collective).
"""

from __future__ import annotations

import os
from datetime import timedelta

import torch
import torch.distributed as dist


def is_dist() -> bool:
    return dist.is_available() and dist.is_initialized()


def get_rank() -> int:
    return dist.get_rank() if is_dist() else 0


def get_world_size() -> int:
    return dist.get_world_size() if is_dist() else 1


def is_main() -> bool:
    return get_rank() == 0


def init_from_env(device: str = "auto", timeout_minutes: float = 60.0) -> torch.device:
    """Join the process group torchrun describes (WORLD_SIZE > 1); return this rank's device.

    The backend follows the device: NCCL for CUDA, gloo for CPU. `timeout_minutes` bounds
    every collective (see the module docstring).
    """
    want_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not is_dist():
        dist.init_process_group(
            backend="nccl" if want_cuda else "gloo", timeout=timedelta(minutes=timeout_minutes)
        )
    if want_cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return torch.device("cuda", local)
    return torch.device(device if device not in ("auto",) else "cpu")


def barrier() -> None:
    if is_dist():
        dist.barrier()


class _GatherLocalGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        world, rank = get_world_size(), get_rank()
        parts = [torch.empty_like(x) for _ in range(world)]
        dist.all_gather(parts, x.contiguous())
        ctx.rank, ctx.world, ctx.n = rank, world, x.shape[0]
        return torch.cat(parts)  # (world * B, ...)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        # Every rank computes the same global loss, so the gradient w.r.t. the local slice is
        # already the exact dL/dx_local; DDP then averages parameter gradients over ranks, and
        # the factor `world` cancels that average (sum over ranks of exact local gradients).
        local = grad[ctx.rank * ctx.n : (ctx.rank + 1) * ctx.n]
        return local * ctx.world


def all_gather_with_local_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate `x` (B, ...) of all ranks in rank order; gradients reach only the local part.

    Contract for losses that use it: compute the loss over the whole gathered batch (every
    anchor of every rank, identical on all ranks), not over local anchors only. Then the loss
    equals the single-process loss on the concatenated batch and, after DDP's gradient
    averaging, so do the parameter gradients. Needs the same B on every rank (drop_last).
    """
    if not is_dist() or get_world_size() == 1:
        return x
    n = torch.tensor([x.shape[0]], device=x.device)
    sizes = [torch.empty_like(n) for _ in range(get_world_size())]
    dist.all_gather(sizes, n)
    if len({int(s) for s in sizes}) != 1:
        raise ValueError(
            f"all_gather_with_local_grad needs equal batch sizes on all ranks, got "
            f"{[int(s) for s in sizes]}; use drop_last=True"
        )
    return _GatherLocalGrad.apply(x)


def all_gather_nograd(x: torch.Tensor) -> torch.Tensor:
    """Concatenate a tensor without gradient (labels) of all ranks in rank order."""
    if not is_dist() or get_world_size() == 1:
        return x
    parts = [torch.empty_like(x) for _ in range(get_world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts)


def shard_bounds(n: int, rank: int | None = None, world: int | None = None) -> tuple[int, int]:
    """[start, end) of rank's contiguous slice of n items; sizes differ by at most one and
    the slices of ranks 0..world-1 cover 0..n in order."""
    rank = get_rank() if rank is None else rank
    world = get_world_size() if world is None else world
    base, extra = divmod(n, world)
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


def gather_rows(x: torch.Tensor) -> torch.Tensor:
    """Concatenate every rank's (n_i, ...) tensor in rank order (n_i may differ by rank).

    Rows travel on the backend's device (CUDA for NCCL) and come back on x's device. Every
    rank receives the whole result (all_gather: NCCL has no gather on older torch)."""
    if not is_dist() or get_world_size() == 1:
        return x
    comm = (
        torch.device("cuda", torch.cuda.current_device())
        if dist.get_backend() == "nccl"
        else x.device
    )
    y = x.to(comm)
    n = torch.tensor([y.shape[0]], device=comm)
    sizes = [torch.empty_like(n) for _ in range(get_world_size())]
    dist.all_gather(sizes, n)
    longest = int(max(int(s) for s in sizes))
    padded = y.new_zeros((longest, *y.shape[1:]))
    padded[: y.shape[0]] = y
    parts = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(parts, padded)
    return torch.cat([p[: int(s)] for p, s in zip(parts, sizes)]).to(x.device)


def reduce_sum(values: list[float], device: torch.device | str = "cpu") -> list[float]:
    """Sum a list of floats over ranks (for epoch metrics: loss sums, counts); float64."""
    t = torch.tensor(values, dtype=torch.float64, device=device)
    if is_dist():
        dist.all_reduce(t)
    return t.tolist()


def broadcast_object(obj, src: int = 0):
    if not is_dist():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]
