"""What a model computes and stores in: fp32, mixed (bf16 compute over fp32 weights), pure bf16.

Morris et al. compare fp32 with bf16 training, and "bf16" can mean two things that store
differently. Under **mixed** precision (torch autocast) the forward pass computes in bf16 but
the parameters, their gradients and AdamW's moments stay fp32: a parameter still holds 32 bits
and every update lands. Under **pure** bf16 the parameters themselves are bf16: a parameter
holds 16 bits, and an update smaller than half a bf16 step of the weight rounds away. Telling
the two apart is what ``unchanged_fraction`` is for: the share of parameters one optimizer step
left exactly where they were.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

import torch

# optim.dtype -> the parameters' dtype; "mixed" keeps fp32 master weights (and moments)
PARAM_DTYPE = {"fp32": torch.float32, "mixed": torch.float32, "bf16": torch.bfloat16}


def compute_context(dtype: str, device: str = "cpu") -> contextlib.AbstractContextManager:
    """The context a forward pass runs in: bf16 autocast for "mixed", nothing otherwise (fp32
    computes in fp32; pure bf16 computes in its parameters' own dtype)."""
    if dtype == "mixed":
        return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def snapshot(params: Iterable[torch.Tensor]) -> list[torch.Tensor]:
    """Copies of the parameters before a step, for ``unchanged_fraction``."""
    return [p.detach().clone() for p in params]


def unchanged_fraction(before: list[torch.Tensor], params: Iterable[torch.Tensor]) -> float:
    """The share of parameter entries a step left bit-for-bit unchanged (one host sync).

    Under fp32 or mixed precision AdamW moves every entry (its moments and weight decay keep
    the update non-zero), so this is ~0; under pure bf16 at a low lr it counts the updates
    that rounded away, which stop a run without its parameters being full."""
    params = list(params)
    same = sum((p.detach() == b).sum() for p, b in zip(params, before, strict=True))
    total = sum(b.numel() for b in before)
    return float(same) / total if total else float("nan")
