"""Global-Prompt Attention Block (GPAB): MFRGN's local representation flow.

Paper: "MFRGN: Multi-scale Feature Representation Generalization Network for
Ground-to-Aerial Geo-localization", ACM Multimedia 2024 (Sec. 3.3, Eqs. 4-5, Fig. 6).

The global representation f^g is projected into the local space (d -> C_i channels per
scale) and reshaped to the size of S_i, giving the prompt f_i^g. Then, for i = 1..4,

    F_i^ch = Sig(Conv(pool_avg(f_i^g)))     channel gate (B, C_i, 1, 1): mean over space
    F_i^sp = Sig(Conv(pool_max(f_i^g)))     spatial gate (B, 1, h, w): max over channels
    f_i^l  = Pool_avg(S_i * F_i^ch * F_i^sp + S_i)                                   (Eq. 5)

The paper's wording swaps "channel" and "spatial" in the pool names of Eq. 4; the gate
shapes only make sense as above, which is also what the authors' public code computes.
f^l = Concat_i f_i^l, then Desc^l = Linear(f^l).

Details the paper leaves open, taken from the public code (HUST-IAL/MFRGN model/mfrgn.py):
the prompt projection is Conv1d(d, d) + BN + Conv1d(d, C_i) + GELU + BN; the channel Conv
is 1x1 C_i -> C_i; the spatial Conv is 1 -> 1 with kernels (9, 7, 5, 3) for satellite
S1..S4 and (7, 13) for street view. With PPS, S1 and its prompt are the pyramid levels:
the channel gate and the final pool run over all sampled tokens.

Two choices, each with the public code's form as an option (the paper profile uses it):
* prompt_kernel: the code's Conv1d kernels run along the flattened token axis with the
  ECA width for d = 128, k = 5 (`k_size`: |(log2 128 + 1) / 2| = 4 -> 5, padding 2);
  prompt_kernel=1 (the default) projects each token alone, since a kernel along a
  flattened map also mixes the last token of one row with the first of the next.
* s1_spatial: "sequence" is the code's S1 spatial gate with PPS, one 1-D conv of length
  kh * kw (81 satellite, 91 street) over the concatenated token sequence of all levels;
  "grid" (the default) runs the 2-D kernel on each level's own grid.
"""

from __future__ import annotations

import torch
from torch import nn

SATELLITE_SPATIAL_KERNELS = ((9, 9), (7, 7), (5, 5), (3, 3))
GROUND_SPATIAL_KERNELS = ((7, 13),) * 4


class GPAB(nn.Module):
    """Feature pieces [(B, C, h_k, w_k)] + prompt tokens (B, sum h_k w_k, d) -> (B, C)."""

    def __init__(
        self,
        channels: int,
        d_model: int,
        spatial_kernel=(7, 7),
        prompt_kernel: int = 1,
        sequence_spatial: bool = False,
    ):
        super().__init__()
        kh, kw = (
            (spatial_kernel, spatial_kernel) if isinstance(spatial_kernel, int) else spatial_kernel
        )
        if kh % 2 == 0 or kw % 2 == 0:
            raise ValueError(f"GPAB spatial kernel must be odd, got {spatial_kernel!r}")
        if prompt_kernel < 1 or prompt_kernel % 2 == 0:
            raise ValueError(f"GPAB prompt_kernel must be odd and >= 1, got {prompt_kernel}")
        pk = prompt_kernel
        self.prompt_proj = nn.Sequential(
            nn.Conv1d(d_model, d_model, pk, padding=pk // 2),
            nn.BatchNorm1d(d_model),
            nn.Conv1d(d_model, channels, pk, padding=pk // 2),
            nn.GELU(),
            nn.BatchNorm1d(channels),
        )
        self.channel_conv = nn.Conv2d(channels, channels, 1)
        self.sequence_spatial = sequence_spatial
        if sequence_spatial:  # the code's S1 with PPS: one (kh * kw) x 1 conv over the tokens
            n = kh * kw
            self.spatial_conv = nn.Conv2d(1, 1, (n, 1), padding=(n // 2, 0))
        else:
            self.spatial_conv = nn.Conv2d(1, 1, (kh, kw), padding=(kh // 2, kw // 2))

    def forward(self, pieces: list[torch.Tensor], prompt: torch.Tensor) -> torch.Tensor:
        counts = [p.shape[2] * p.shape[3] for p in pieces]
        if prompt.shape[1] != sum(counts):
            raise ValueError(f"GPAB prompt has {prompt.shape[1]} tokens, features {sum(counts)}")
        f_g = self.prompt_proj(prompt.transpose(1, 2))  # (B, N, d) -> (B, C, N)
        f_ch = torch.sigmoid(self.channel_conv(f_g.mean(2)[:, :, None, None]))  # (B, C, 1, 1)
        if self.sequence_spatial:
            # (B, C, N) -> max over channels (B, 1, N, 1) -> gate over the token sequence
            f_sp = torch.sigmoid(self.spatial_conv(f_g.amax(1, keepdim=True)[..., None]))
            s = torch.cat([p.flatten(2) for p in pieces], dim=2)  # (B, C, N)
            return (s * f_ch[..., 0] * f_sp[..., 0] + s).mean(2)  # (B, C)
        total = 0.0
        for s_i, f_gk in zip(pieces, f_g.split(counts, dim=2)):
            f_gk = f_gk.unflatten(2, s_i.shape[2:])  # (B, C, h*w) -> (B, C, h, w)
            f_sp = torch.sigmoid(self.spatial_conv(f_gk.amax(1, keepdim=True)))  # (B, 1, h, w)
            total = total + (s_i * f_ch * f_sp + s_i).sum(dim=(2, 3))  # (B, C)
        return total / sum(counts)  # average over every (sampled) position


class LocalFlow(nn.Module):
    """Four GPABs (S1..S4) and the projection to the local descriptor Desc^l."""

    def __init__(
        self,
        channels,
        d_model: int,
        out_dim: int,
        spatial_kernels,
        prompt_kernel: int = 1,
        s1_sequence: bool = False,
    ):
        super().__init__()
        self.blocks = nn.ModuleList(
            GPAB(c, d_model, k, prompt_kernel, sequence_spatial=s1_sequence and i == 0)
            for i, (c, k) in enumerate(zip(channels, spatial_kernels, strict=True))
        )
        self.proj = nn.Linear(sum(channels), out_dim)

    def forward(self, features: list[list[torch.Tensor]], prompts: list[torch.Tensor]):
        f_l = [blk(f, p) for blk, f, p in zip(self.blocks, features, prompts, strict=True)]
        return self.proj(torch.cat(f_l, dim=1))  # (B, sum C_i) -> (B, dim_l)
