"""Cost of one ground + one satellite image through a two-view model (MFRGN Table 5).

FLOPs: `torch.utils.flop_counter.FlopCounterMode`, which counts matrix products and
convolutions (2 FLOPs per multiply-add) and no element-wise ops. Paper tools (thop, fvcore)
often count multiply-adds and skip attention's matmuls; the paper's Table 5 gives the same
22.31G with and without linear attention, which suggests its counter ignored them. Compare
ratios, not absolute values.

Peak activation memory: `LiveTensorBytes`, a TorchDispatchMode that sees every aten op,
adds the bytes of each newly allocated output storage (outputs aliasing an input storage,
i.e. views and in-place results, are not new), and subtracts a storage when it is freed
(a weak reference to the storage expires). The peak of the live total is the activation
memory; parameters, buffers and the input images exist before and are not counted. It is
device-agnostic (CPU, CUDA, and the meta device, so paper sizes cost no compute) and
ignores allocator caching and rounding; scratch buffers inside a single kernel are
invisible. On CUDA the allocator's own peak (`torch.cuda.max_memory_allocated` minus the
memory held before) is reported beside it. `grad=False` measures inference (no_grad);
`grad=True` measures a training forward, where saved activations stay alive.
"""

from __future__ import annotations

import torch
from torch.multiprocessing.reductions import StorageWeakRef
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.flop_counter import FlopCounterMode


class LiveTensorBytes(TorchDispatchMode):
    """Tracks the bytes of tensor storages allocated while active; `.peak` is the maximum."""

    def __init__(self):
        super().__init__()
        self.live: dict[int, tuple[StorageWeakRef, int]] = {}
        self.current = 0
        self.peak = 0

    def _sweep(self):
        for key in [k for k, (ref, _) in self.live.items() if ref.expired()]:
            self.current -= self.live.pop(key)[1]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        inputs = {
            StorageWeakRef(t.untyped_storage()).cdata
            for t in tree_flatten((args, kwargs))[0]
            if isinstance(t, torch.Tensor)
        }
        out = func(*args, **kwargs)
        self._sweep()
        for t in tree_flatten(out)[0]:
            if not isinstance(t, torch.Tensor):
                continue
            storage = t.untyped_storage()
            ref = StorageWeakRef(storage)
            if ref.cdata in inputs or ref.cdata in self.live:
                continue  # a view or in-place result: no new memory
            self.live[ref.cdata] = (ref, storage.nbytes())
            self.current += storage.nbytes()
        self.peak = max(self.peak, self.current)
        return out


def _param_bytes(model: torch.nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())


def measure_pair(
    model: torch.nn.Module,
    ground_hw: tuple[int, int] | None = None,
    satellite_hw: tuple[int, int] | None = None,
    device: str | torch.device | None = None,
    grad: bool = False,
) -> dict:
    """FLOPs and peak activation bytes of model(ground) then model(satellite), batch 1 each.

    Sizes default to the model's `input_hw` (MFRGN). Both descriptors are kept until the
    end, as a pair forward would. Returns a dict of ints plus the method names.
    """
    sizes = getattr(model, "input_hw", {})
    ground_hw = tuple(ground_hw or sizes["ground"])
    satellite_hw = tuple(satellite_hw or sizes["satellite"])
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()  # deterministic (no dropout masks); grad=True still keeps saved tensors
    x_g = torch.randn(1, 3, *ground_hw, device=device)
    x_s = torch.randn(1, 3, *satellite_hw, device=device)

    flops = {}
    with torch.set_grad_enabled(grad):
        for view, x in (("ground", x_g), ("satellite", x_s)):
            counter = FlopCounterMode(display=False)
            with counter:
                model(x, view=view)
            flops[view] = counter.get_total_flops()

        cuda = device.type == "cuda"
        if cuda:
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
            base = torch.cuda.memory_allocated(device)
        tracker = LiveTensorBytes()
        with tracker:
            outs = [model(x_g, view="ground"), model(x_s, view="satellite")]
        result = {
            "flops_ground": flops["ground"],
            "flops_satellite": flops["satellite"],
            "flops": flops["ground"] + flops["satellite"],
            "peak_activation_bytes": tracker.peak,
            "param_bytes": _param_bytes(model),
            "grad": grad,
            "flops_method": "torch.utils.flop_counter.FlopCounterMode (2 per multiply-add)",
            "memory_method": "LiveTensorBytes: peak bytes of live tensor storages (aten level)",
        }
        if cuda:
            torch.cuda.synchronize(device)
            result["cuda_peak_allocated_bytes"] = torch.cuda.max_memory_allocated(device) - base
        del outs
    model.train(was_training)
    return result


TABLE5_ROWS = (("dot", False), ("linear", False), ("linear", True))  # (attention, pps)


def table5_costs(device: str = "meta", grad: bool = False, **model_kw) -> list[dict]:
    """MFRGN Table 5's rows (LA, PPS) = (no, no), (yes, no), (yes, yes), one dict each.

    On the meta device (default) nothing is computed or allocated, so paper sizes are
    cheap; `model_kw` goes to MFRGN (e.g. backbone, ground_hw, satellite_hw).
    """
    from cvgl_core.models.mfrgn.model import MFRGN

    rows = []
    for attention, pps in TABLE5_ROWS:
        with torch.device(device):
            model = MFRGN(attention=attention, pps=pps, **model_kw)
        cost = measure_pair(model, grad=grad)
        rows.append({"linear_attention": attention == "linear", "pps": pps, **cost})
    return rows
