"""The denoiser g: a transformer over mesh tokens conditioned on the 2D pose prior.

Tokens are groups of coarse-mesh vertices and the body joints (topology fixed, so every token has
a learned identity embedding). Each block: self-attention among mesh tokens → cross-attention to
the condition tokens (one per prior joint: keypoint, confidence and a pooled heatmap, plus one for
the crop's place in the camera) → MLP. The diffusion step enters through adaptive layer norm.
The network predicts the clean state h_0 (the DDIM jump target) directly.

With ``world_condition`` each joint token also gets the detector's 3D estimate of that joint
(MediaPipe's world landmarks: hip-centred metres, camera-like axes) and a flag saying whether it
is there: sources without one, and unseen joints, give zeros and a 0 flag. The layer starts at
zero, so a network fine-tuned from one without it begins with the same outputs.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


WORLD_SCALE = 0.35  # metres per unit of the 3D prior's input (about the state's data_scale)


@dataclass
class DenoiserConfig:
    num_points: int  # coarse vertices + joints in the state
    group_size: int = 4  # points per mesh token
    num_cond_joints: int = 17
    dim: int = 128
    depth: int = 4
    heads: int = 4
    mlp_ratio: float = 2.0
    heatmap_pool: int = 8  # heatmaps are average-pooled to pool×pool before embedding
    world_condition: bool = False  # the joint tokens also carry a 3D prior (the detector's world joints)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def num_tokens(self) -> int:
        return math.ceil(self.num_points / self.group_size)


def step_embedding(k: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of the diffusion step (B,) → (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=k.device) / half)
    angles = k.float()[:, None] * freqs[None]
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q = self.q(x).view(b, n, self.heads, -1).transpose(1, 2)
        k, v = self.kv(context).view(b, context.shape[1], 2, self.heads, -1).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v)
        return self.out(y.transpose(1, 2).reshape(b, n, d))


class Block(nn.Module):
    """adaLN self-attention, cross-attention to the condition, adaLN MLP."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False)
        self.self_attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.cross_attn = Attention(dim, heads)
        self.norm3 = nn.LayerNorm(dim, elementwise_affine=False)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.modulation = nn.Linear(dim, 6 * dim)
        nn.init.zeros_(self.modulation.weight)
        nn.init.zeros_(self.modulation.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor, modulation: torch.Tensor) -> torch.Tensor:
        """``modulation``: this block's ``self.modulation(t)`` (B or 1, 6·dim) for the step embedding t."""
        s1, b1, g1, s2, b2, g2 = modulation[:, None].chunk(6, dim=-1)
        h = self.norm1(x) * (1 + s1) + b1
        x = x + (1 + g1) * self.self_attn(h, h)
        x = x + self.cross_attn(self.norm2(x), cond)
        return x + (1 + g2) * self.mlp(self.norm3(x) * (1 + s2) + b2)


class Denoiser(nn.Module):
    """g(h_k, k, prior) → predicted h_0, for states (B, num_points, 3)."""

    def __init__(self, config: DenoiserConfig) -> None:
        super().__init__()
        self.config = c = config
        self.pad = c.num_tokens * c.group_size - c.num_points
        self.embed_in = nn.Linear(3 * c.group_size, c.dim)
        self.token_id = nn.Parameter(torch.randn(1, c.num_tokens, c.dim) * 0.02)
        self.step_mlp = nn.Sequential(nn.Linear(c.dim, c.dim), nn.SiLU(), nn.Linear(c.dim, c.dim))
        self.joint_in = nn.Linear(3 + c.heatmap_pool**2, c.dim)
        self.joint_id = nn.Parameter(torch.randn(1, c.num_cond_joints, c.dim) * 0.02)
        self.bbox_in = nn.Linear(3, c.dim)
        if c.world_condition:
            self.world_in = nn.Linear(4, c.dim)
            nn.init.zeros_(self.world_in.weight)
            nn.init.zeros_(self.world_in.bias)
        self.blocks = nn.ModuleList(Block(c.dim, c.heads, c.mlp_ratio) for _ in range(c.depth))
        self.norm_out = nn.LayerNorm(c.dim)
        self.embed_out = nn.Linear(c.dim, 3 * c.group_size)

    def encode_condition(
        self, keypoints: torch.Tensor, confidence: torch.Tensor, heatmaps: torch.Tensor, bbox: torch.Tensor,
        world: torch.Tensor | None = None, world_weights: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Condition tokens (B, J+1, dim) from the prior; computed once per frame, reused per step.

        ``world`` (B, J, 3) metres and ``world_weights`` (B, J): the optional 3D prior (ignored
        without ``world_condition``); a joint with weight 0 carries no 3D information.
        """
        pool = self.config.heatmap_pool
        pooled = F.adaptive_avg_pool2d(heatmaps.float(), pool).flatten(2) * float(pool * pool)
        joints = torch.cat([keypoints, confidence[..., None], pooled], dim=-1)
        tokens = self.joint_in(joints) + self.joint_id
        if self.config.world_condition:
            present = torch.zeros_like(confidence) if world is None else (world_weights > 0).float()
            points = torch.zeros_like(pooled[..., :3]) if world is None else world.float() * present[..., None]
            tokens = tokens + self.world_in(torch.cat([points / WORLD_SCALE, present[..., None]], dim=-1))
        return torch.cat([tokens, self.bbox_in(bbox)[:, None]], dim=1)

    def modulations(self, k: torch.Tensor) -> torch.Tensor:
        """Every block's adaptive-norm modulation (depth, B, 6·dim) for diffusion steps k (B,): the
        part of the network that depends on the step alone (a backend can compute it once per step)."""
        t = self.step_mlp(step_embedding(k, self.config.dim))
        return torch.stack([block.modulation(t) for block in self.blocks])

    def denoise(self, h: torch.Tensor, modulations: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """The prediction of h_0 given the step's :meth:`modulations` (depth, B or 1, 6·dim)."""
        c = self.config
        b = h.shape[0]
        if cond.shape[0] != b:  # one condition shared by several hypotheses
            cond = cond.repeat_interleave(b // cond.shape[0], dim=0)
        x = F.pad(h, (0, 0, 0, self.pad)).reshape(b, c.num_tokens, 3 * c.group_size)
        x = self.embed_in(x) + self.token_id
        for block, modulation in zip(self.blocks, modulations):
            x = block(x, cond, modulation)
        out = self.embed_out(self.norm_out(x)).reshape(b, -1, 3)
        return out[:, : c.num_points]

    def forward(self, h: torch.Tensor, k: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.denoise(h, self.modulations(k.expand(h.shape[0])), cond)
