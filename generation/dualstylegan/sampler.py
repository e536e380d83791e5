"""The sampling network N of DualStyleGAN (section 3.4): unit Gaussian noise -> extrinsic style codes.

Structure rows (1-7) and colour rows (8-18) are sampled by two separate networks (`structure`, `color` in
sampler.pt), each an IMLE/ICP-trained MLP 128 -> 128 -> 128 -> rows * 512 with batch norm and ReLU, no
biases; the two halves are concatenated into one Z+ extrinsic code. Sampling runs the batch norms in eval
mode (their running statistics), so one code can be drawn at a time; the official `generate.py` leaves the
networks in training mode, i.e. normalises with the statistics of the sampled batch.
"""
from __future__ import annotations

import torch
from torch import nn


class CodeMLP(nn.Module):
    """lin1 -> bn1 -> ReLU -> lin2 -> bn2 -> ReLU -> lin_out (the official `_netT`)."""

    def __init__(self, noise_dim: int, out_dim: int, hidden: int = 128) -> None:
        super().__init__()
        self.noise_dim = noise_dim
        self.lin1 = nn.Linear(noise_dim, hidden, bias=False)
        self.bn1 = nn.BatchNorm1d(hidden)
        self.lin2 = nn.Linear(hidden, hidden, bias=False)
        self.bn2 = nn.BatchNorm1d(hidden)
        self.lin_out = nn.Linear(hidden, out_dim, bias=False)

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        e = torch.relu(self.bn1(self.lin1(e)))
        return self.lin_out(torch.relu(self.bn2(self.lin2(e))))


class StyleSampler(nn.Module):
    """`structure` and `color` samplers; `sample(n, generator)` -> (n, rows, style_dim) Z+ extrinsic codes."""

    def __init__(self, structure_rows: int = 7, colour_rows: int = 11, style_dim: int = 512,
                 noise_dim: int = 128, hidden: int = 128) -> None:
        super().__init__()
        self.style_dim = style_dim
        self.structure = CodeMLP(noise_dim, structure_rows * style_dim, hidden)
        self.color = CodeMLP(noise_dim, colour_rows * style_dim, hidden)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Codes from independent structure and colour noise (eval mode: batch norm uses its statistics)."""
        self.eval()
        w = self.structure.lin1.weight  # the noise is drawn in float32 on the CPU, then put where the weights are
        s = torch.randn(n, self.structure.noise_dim, generator=generator).to(w.device, w.dtype)
        c = torch.randn(n, self.color.noise_dim, generator=generator).to(w.device, w.dtype)
        return torch.cat([self.structure(s).view(n, -1, self.style_dim), self.color(c).view(n, -1, self.style_dim)], 1)
