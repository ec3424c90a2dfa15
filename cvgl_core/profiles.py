"""Run profiles: how big the data, models and training are (docs/design.md, "Profiles").

`smoke` makes every code path execute in seconds (tests, CI); `cpu` is the default of
`make results` and is sized so learning is visible on a 2-core laptop; `paper` is the
papers' own setting on a GPU machine with the real datasets. Notebooks receive the
profile name as a papermill parameter and read everything else from here or from
their per-paper config.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    # synthetic world (ignored when a real data_root is given)
    num_locations: int  # ground/satellite pairs in a one-to-one layout (CVUSA-, CVACT-like)
    num_buildings: int  # classes in a University-1652-, SUES-200-like layout
    sat_size: int  # satellite tile side, px
    pano_hw: tuple[int, int]  # ground panorama (H, W), px
    drone_size: int  # drone image side, px
    drone_views: int  # drone images per building on the University-1652-like circle (real: 54)
    sues_views: int  # drone images per location and altitude, SUES-200-like (real: 50)
    # models
    convnext: str  # timm ConvNeXt variant (LRFR, MFRGN, GLQINet)
    resnet: str  # torchvision/timm ResNet for AWM
    resnet_deep: str  # ResNet used where the paper has ResNet-50 (FRG)
    pretrained: bool | str  # True: ImageNet (timm cache); "standin": cvgl_core.standin
    # training
    epochs: int
    epoch_steps: int | None  # train.epoch_steps of the profile's configs: batches per epoch
    batch_size: int
    num_workers: int

    def replace(self, **kwargs) -> Profile:
        return dataclasses.replace(self, **kwargs)


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke",
        description="tiny synthetic world, smallest backbones, 1 epoch: every path executes",
        num_locations=48,
        num_buildings=16,
        sat_size=48,
        pano_hw=(32, 128),
        drone_size=48,
        drone_views=4,
        sues_views=2,
        convnext="convnext_atto",
        resnet="resnet18",
        resnet_deep="resnet18",
        pretrained=False,
        epochs=1,
        epoch_steps=None,
        batch_size=16,
        num_workers=0,
    ),
    "cpu": Profile(
        name="cpu",
        description="synthetic world of ~1,500 locations, small backbones, a few epochs",
        # Calibrated (notes in configs/baseline/cvusa_cpu.yaml): from scratch, the amount of
        # training data decides generalisation far more than image size does. 400 pairs at
        # 64x256 memorise (R@1 ~5% after 12 epochs); 1,200 pairs at 32x128 reach R@1 ~60%
        # in 3 epochs at ~30 s an epoch on 2 cores.
        num_locations=1500,
        num_buildings=60,
        sat_size=64,
        pano_hw=(32, 128),
        drone_size=96,
        drone_views=8,
        sues_views=5,
        convnext="convnext_atto",
        resnet="resnet18",
        resnet_deep="resnet18",
        pretrained="standin",  # the synthetic ImageNet stand-in (cvgl_core.standin)
        epochs=4,
        epoch_steps=12,  # from the stand-in: 3 seeds of every compared row fit a laptop
        batch_size=32,
        num_workers=2,
    ),
    "paper": Profile(
        name="paper",
        description="the papers' settings: real datasets, paper backbones, pretrained, GPU",
        num_locations=0,
        num_buildings=0,
        sat_size=384,
        pano_hw=(128, 512),
        drone_size=384,
        drone_views=54,
        sues_views=50,
        convnext="convnext_tiny",
        resnet="resnet18",
        resnet_deep="resnet50",
        pretrained=True,
        epochs=0,  # per paper config
        epoch_steps=None,
        batch_size=32,
        num_workers=8,
    ),
}


def get_profile(name: str) -> Profile:
    if name not in PROFILES:
        raise KeyError(f"unknown profile {name!r}; known: {', '.join(PROFILES)}")
    return PROFILES[name]
