"""Morris et al. 2025's Table 1, as far as we hold it: the figures the capacity analysis compares
with, and the parameter split of their d_model 32 models, which every prediction of them reads.

The figures are the ones the issue quotes (the only ones we hold): 1 layer x d_model 32 stores
4.23 bits/param in fp32; over the 16 models fp32 spans 3.02-4.23 (mean 3.83) and bf16
2.86-3.94 (mean 3.51). Their models are GPT-2s at V = 2048, T = 64, tied.
"""

from __future__ import annotations

from typing import NamedTuple

from memtune.core.config import ModelConfig
from memtune.core.param_counts import gpt_param_split

MORRIS_1X32_FP32 = 4.23
MORRIS_FP32_RANGE = (3.02, 4.23)
MORRIS_BF16_RANGE = (2.86, 3.94)
MORRIS_V, MORRIS_T = 2048, 64


class Morris32(NamedTuple):
    """One of their d_model 32 models: its name, and its parameters split as the fits use them
    (positions counted with the body, as everywhere in the capacity analysis)."""

    name: str
    n_layer: int
    n_params: int
    non_embedding: int
    embedding: int


def d32_models() -> list[Morris32]:
    """Their d_model 32 models, 1, 2, 4 and 8 layers (heads of 16 channels), tied, at V, T."""
    out = []
    for n_layer in (1, 2, 4, 8):
        m = ModelConfig(n_layer=n_layer, d_model=32, n_head=2, tie_embeddings=True)
        split = gpt_param_split(m, MORRIS_V, MORRIS_T)
        out.append(Morris32(f"{n_layer}x32", n_layer, sum(split.values()),
                            split["body"] + split["position"], split["embedding"]))  # fmt: skip
    return out
