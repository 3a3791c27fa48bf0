"""Sentence pooling on padded batches, in torch: the definitions the cache documents.

Shared by the extractor (pooled vectors stored in the cache) and the fine-tuning head, so a
probe on cached ``maxnorm`` vectors and a fine-tuned ``maxnorm`` head see the same token.
"""

from __future__ import annotations

import torch

from probe.vocabulary import POOLINGS


def pool(
    hidden: torch.Tensor,
    attention_mask: torch.Tensor,
    special_mask: torch.Tensor,
    pooling: str,
    *,
    maxnorm_includes_special: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Pool ``hidden`` (..., B, T, H) over tokens → (..., B, H).

    ``cls``: position 0. ``last``: the last real token (decoders). ``mean``: mean over real
    tokens. ``maxnorm``: the real token with the largest L2 norm, specials excluded unless
    ``maxnorm_includes_special``.

    ``attention_mask`` and ``special_mask`` are (B, T), 1 for real / special tokens. Returns the
    pooled vectors and, for ``maxnorm``, the chosen position (..., B) (None otherwise).
    Computation is in the dtype of ``hidden``; pass float32 for cache-grade numbers.
    """
    real = attention_mask.to(torch.bool)
    if pooling == "cls":
        return hidden[..., 0, :], None
    if pooling == "last":
        # The last real position, whichever side the padding is on: (B,) index of the
        # rightmost 1 in the mask (an all-padding row would give 0).
        positions = torch.arange(real.shape[-1], device=real.device)
        last = (real.to(torch.long) * positions).argmax(dim=-1)
        index = last.view(*([1] * (hidden.dim() - 3)), -1, 1, 1)
        index = index.expand(*hidden.shape[:-2], 1, hidden.shape[-1])
        return hidden.gather(-2, index).squeeze(-2), None
    if pooling == "mean":
        weights = real.to(hidden.dtype)
        # (B, 1, T) @ (..., B, T, H): one read of the states, no masked (..., B, T, H) copy.
        summed = torch.matmul(weights.unsqueeze(-2), hidden).squeeze(-2)
        return summed / weights.sum(dim=-1, keepdim=True).clamp(min=1), None
    if pooling == "maxnorm":
        eligible = real if maxnorm_includes_special else real & ~special_mask.to(torch.bool)
        # An example made only of special tokens falls back to all its real tokens.
        eligible = torch.where(eligible.any(dim=-1, keepdim=True), eligible, real)
        norms = torch.linalg.vector_norm(hidden.float(), dim=-1)
        norms = norms.masked_fill(~eligible, -1.0)
        position = norms.argmax(dim=-1)
        index = position.unsqueeze(-1).unsqueeze(-1).expand(*position.shape, 1, hidden.shape[-1])
        return hidden.gather(-2, index).squeeze(-2), position
    raise ValueError(f"Unknown pooling {pooling!r}; choose one of {', '.join(POOLINGS)}.")
