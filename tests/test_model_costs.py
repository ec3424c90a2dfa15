"""Shared cost helpers of cvgl_core.models.flops: parameter counts and extraction time."""

import pytest
import torch
from torch import nn

from cvgl_core.models.flops import (
    count_parameters,
    extraction_ms_per_query,
    parameter_megabytes,
    parameters_millions,
)


def test_parameter_counts_by_hand():
    net = nn.Sequential(nn.Linear(10, 5), nn.Conv2d(3, 4, 3))  # 55 + (3*9*4 + 4) = 55 + 112
    assert count_parameters(net) == 167
    assert parameters_millions(net) == pytest.approx(167e-6)
    assert parameter_megabytes(net) == pytest.approx(167 * 4 / 2**20)
    assert parameter_megabytes(net.half()) == pytest.approx(167 * 2 / 2**20)
    net[0].weight.requires_grad_(False)
    assert count_parameters(net, trainable_only=True) == 117


class ViewRecorder(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(1))
        self.calls = []

    def forward(self, x, view="satellite"):
        self.calls.append((tuple(x.shape), view, self.training, torch.is_grad_enabled()))
        return x.flatten(1) * self.w


class FakeClock:
    """Each call of a timed pair (start, stop) advances by the next duration in seconds."""

    def __init__(self, durations):
        self.durations, self.t, self.calls = list(durations), 0.0, 0

    def __call__(self):
        if self.calls % 2:
            self.t += self.durations[self.calls // 2]
        self.calls += 1
        return self.t


def test_extraction_time_is_the_median_per_image_and_restores_mode():
    model = ViewRecorder().train()
    clock = FakeClock([0.010, 0.030, 0.020, 0.500, 0.040])  # median 30 ms per batch of 2
    ms = extraction_ms_per_query(
        model, (4, 6), view="drone", batch_size=2, warmup=3, repeats=5, timer=clock
    )
    assert ms == pytest.approx(15.0)  # per image
    assert len(model.calls) == 3 + 5 and clock.calls == 10  # warm-up calls are not timed
    assert all(c == ((2, 3, 4, 6), "drone", False, False) for c in model.calls)
    assert model.training  # restored
    even = extraction_ms_per_query(
        model, (4, 6), warmup=0, repeats=4, timer=FakeClock([0.001, 0.004, 0.002, 0.003])
    )
    assert even == pytest.approx(2.5)  # mean of the two middle values
    with pytest.raises(ValueError, match="repeats"):
        extraction_ms_per_query(model, (4, 6), repeats=0)
