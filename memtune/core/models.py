"""GPT-2-style decoder, after karpathy/nanoGPT's model.py, sized for memorization studies.

Differences from nanoGPT, each for a reason:
- the input vocabulary has one extra id, BOS (= vocab_size), so every data token, the first
  included, is predicted from something and counts in the code length;
- the LM head is untied by default (the input vocabulary is V+1, the output V) and has no bias;
  ``tie_embeddings`` ties it as GPT-2 does, one V x d matrix read both ways. The head then scores
  the V data tokens only, so no probability mass goes to BOS, and BOS reads a fixed zero vector
  rather than a row of its own: BOS always sits at position 0, where the learned position
  embedding already adds any vector a BOS row could, so a row would be d redundant parameters
  (with rotary positions the first position's input is the zero vector, and the block's biases
  carry it). A tied model has exactly GPT-2's count, V d + T d + the blocks + the final norm
  (Morris et al.'s Table 1: 80,352 for 1 layer x d 32 at V 2048);
- positions are learned (GPT-2) or rotary (``pos_emb="rope"``);
- no dropout: memorization is measured on the training set itself.
No Ray and no file I/O here.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from memtune.core.config import ModelConfig


def rope_tables(
    seq_len: int, head_dim: int, base: float = 10_000.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin tables, each (T, head_dim/2), for rotary position embeddings (Su et al. 2021)."""
    inv_freq = 1.0 / base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
    angles = torch.outer(torch.arange(seq_len, dtype=torch.float32), inv_freq)
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate pairs of channels of x (B, H, T, hs) by position-dependent angles."""
    x1, x2 = x[..., 0::2], x[..., 1::2]
    out = torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)
    return out.flatten(-2)


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: ModelConfig, block_size: int) -> None:
        super().__init__()
        self.n_head = cfg.n_head
        self.c_attn = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.c_proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.rope = cfg.pos_emb == "rope"
        if self.rope:
            cos, sin = rope_tables(block_size, cfg.d_model // cfg.n_head)
            self.register_buffer("cos", cos, persistent=False)
            self.register_buffer("sin", sin, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(C, dim=2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        if self.rope:
            q = apply_rope(q, self.cos[:T], self.sin[:T])
            k = apply_rope(k, self.cos[:T], self.sin[:T])
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(cfg.d_model, cfg.mlp_ratio * cfg.d_model)
        self.c_proj = nn.Linear(cfg.mlp_ratio * cfg.d_model, cfg.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(F.gelu(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig, block_size: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.d_model)
        self.attn = CausalSelfAttention(cfg, block_size)
        self.ln_2 = nn.LayerNorm(cfg.d_model)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """Decoder-only transformer over ``vocab_size`` symbols plus a BOS input id."""

    def __init__(self, cfg: ModelConfig, vocab_size: int, block_size: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.vocab_size = vocab_size
        self.block_size = block_size
        self.bos_id = vocab_size
        self.tied = cfg.tie_embeddings
        self.wte = nn.Embedding(vocab_size + (0 if self.tied else 1), cfg.d_model)
        self.wpe = nn.Embedding(block_size, cfg.d_model) if cfg.pos_emb == "learned" else None
        self.h = nn.ModuleList([Block(cfg, block_size) for _ in range(cfg.n_layer)])
        self.ln_f = nn.LayerNorm(cfg.d_model)
        # tied: the head is wte itself (head_weight), so nothing is registered twice
        self.lm_head = None if self.tied else nn.Linear(cfg.d_model, vocab_size, bias=False)
        self.apply(self._init_weights)
        # GPT-2: scale residual projections by 1/sqrt(2 * n_layer)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    @property
    def head_weight(self) -> torch.Tensor:
        """The (V, d) matrix that scores the next token: wte's own weight when tied."""
        return self.wte.weight if self.lm_head is None else self.lm_head.weight

    def embed(self, idx: torch.Tensor) -> torch.Tensor:
        """Token vectors of input ids (B, T); a tied model's BOS reads the zero vector."""
        if not self.tied:
            return self.wte(idx)
        bos = (idx == self.bos_id).unsqueeze(-1)
        return self.wte(idx.masked_fill(bos.squeeze(-1), 0)).masked_fill(bos, 0.0)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """Map input ids (B, T) to next-token logits (B, T, V)."""
        B, T = idx.size()
        x = self.embed(idx)
        if self.wpe is not None:
            x = x + self.wpe(torch.arange(T, device=idx.device))
        for block in self.h:
            x = block(x)
        return F.linear(self.ln_f(x), self.head_weight)


def build_model(cfg: ModelConfig, vocab_size: int, block_size: int) -> GPT:
    return GPT(cfg, vocab_size=vocab_size, block_size=block_size)


def count_params(model: nn.Module) -> int:
    """Every trainable parameter, position embeddings included: capacity is per parameter stored.
    A tied matrix counts once (``parameters()`` yields a shared tensor once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def param_split(model: GPT) -> dict[str, int]:
    """Trainable parameters of a GPT by kind: ``embedding`` (token embedding and LM head, one
    matrix when tied), ``position`` (learned positions) and ``body`` (blocks and final norm).
    Capacity per parameter depends on the mix (docs/capacity.md, "Where 3.6 comes from")."""
    kinds = {"embedding": 0, "position": 0, "body": 0}
    for name, p in model.named_parameters():
        if p.requires_grad:
            kind = name.split(".")[0]
            kind = {"wte": "embedding", "lm_head": "embedding", "wpe": "position"}.get(kind, "body")
            kinds[kind] += p.numel()
    return kinds
