"""The fine-tuning model: an encoder cut at layer L, a pooled vector, and a head on a few dims.

Fukuhata & Kano (2025) fine-tune the whole encoder while the new fully connected head may
only read 2–3 chosen hidden dimensions (the others are nulled, DropConnect-style). Here the
nulling is done by indexing: the head is built with ``len(selected_dims)`` inputs and is fed
``pooled[:, selected_dims]``. An unselected dim therefore has no weight in the head, and the
backward pass of the index gives it exactly zero gradient (tests check it), so the encoder
can only be steered through the chosen dims.

**The encoder above the chosen layer is not run.** ``hidden_states[L]`` (0 = embeddings) is
the output of the first L transformer blocks, so the block list is truncated to those L
blocks while the model trains: no compute is spent on blocks whose output nobody reads, and
no gradient (not even a zero one) reaches them, so their weights stay exactly as loaded. The
pooler is skipped for the same reason. :meth:`SelectedDimsModel.full_encoder` puts the full
block list back for hashing and saving, so a saved model is a complete encoder whose lower
L blocks are fine-tuned and whose upper blocks are the pre-trained ones.

Pooling is :func:`extract.pooling.pool`, the definition the feature cache stores, so a
fine-tuned ``maxnorm`` head reads the same token a cached ``maxnorm`` probe reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

import torch
from torch import nn

from extract.pooling import POOLINGS, pool
from probe.errors import ModelError

HEADS = ("linear", "mlp2")
# Where models keep their transformer blocks: (container attribute, list attribute); "" is the
# model itself (ModernBERT and Llama: model.layers; GPT-2: model.h).
_BLOCK_LISTS = (("encoder", "layer"), ("transformer", "layer"), ("", "layers"), ("", "h"))
# Norms applied after the last block (ModernBERT, GPT-2, Llama). hidden_states[L] below the
# top is a block's output *before* such a norm, so an encoder cut below the top skips it too.
_FINAL_NORMS = ("final_norm", "ln_f", "norm")


def build_head(kind: str, n_inputs: int, n_outputs: int, hidden_width: int) -> nn.Module:
    """``linear``: one fully connected layer. ``mlp2``: FC → tanh → FC, ``hidden_width`` wide.

    ``mlp2`` is the two-layer head of the paper's frozen comparison (a frozen encoder with a
    linear head is just a linear probe, which ``fewdims probe`` already measures).
    """
    if kind == "linear":
        return nn.Linear(n_inputs, n_outputs)
    if kind == "mlp2":
        return nn.Sequential(
            nn.Linear(n_inputs, hidden_width), nn.Tanh(), nn.Linear(hidden_width, n_outputs)
        )
    raise ModelError(f"Unknown head {kind!r}; choose one of {', '.join(HEADS)}.")


def _block_list(encoder: nn.Module) -> tuple[nn.Module, str, nn.ModuleList]:
    for container_name, list_name in _BLOCK_LISTS:
        container = getattr(encoder, container_name, None) if container_name else encoder
        blocks = getattr(container, list_name, None)
        if isinstance(blocks, nn.ModuleList):
            return container, list_name, blocks
    raise ModelError(
        f"{type(encoder).__name__} keeps its transformer blocks in none of encoder.layer, "
        "transformer.layer, layers or h; fewdims finetune supports BERT, RoBERTa, MiniLM, "
        "ELECTRA, DistilBERT, DeBERTa-v2, MPNet, ModernBERT, GPT-2 and Llama-style models."
    )


class SelectedDimsModel(nn.Module):
    """Encoder truncated to ``layer`` blocks + pooling + one head per task on ``selected_dims``.

    ``selected_dims`` empty means all dims. Heads are kept by task name so sequential
    (cross-task) fine-tuning can re-evaluate earlier tasks with their own, old heads.
    ``frozen`` keeps every encoder parameter fixed (``requires_grad=False``, eval mode, no
    autograd graph through the encoder).
    """

    def __init__(
        self,
        encoder: nn.Module,
        *,
        layer: int,
        pooling: str,
        selected_dims: list[int],
        hidden_size: int,
        frozen: bool,
        maxnorm_includes_special: bool = False,
    ) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ModelError(f"Unknown pooling {pooling!r}; choose one of {', '.join(POOLINGS)}.")
        self.encoder = encoder
        self.layer = layer
        self.pooling = pooling
        self.hidden_size = hidden_size
        self.frozen = frozen
        self.maxnorm_includes_special = maxnorm_includes_special
        self.heads = nn.ModuleDict()
        self.register_buffer(
            "selected_dims", torch.as_tensor(selected_dims, dtype=torch.long), persistent=False
        )
        container, list_name, blocks = _block_list(encoder)
        self._block_container = container
        self._block_list_name = list_name
        self._all_blocks = list(blocks)  # plain list: the full stack, not registered twice
        if layer > len(self._all_blocks):
            raise ModelError(
                f"Layer {layer} is beyond the model's depth: it has {len(self._all_blocks)} "
                f"blocks, so hidden states 0..{len(self._all_blocks)} (0 = embeddings)."
            )
        setattr(container, list_name, nn.ModuleList(self._all_blocks[:layer]))
        self._pooler = getattr(encoder, "pooler", None)
        if self._pooler is not None:
            encoder.pooler = None
        # {attribute: norm module} set aside while the encoder is cut below its top block.
        self._final_norms = {
            name: getattr(encoder, name)
            for name in _FINAL_NORMS
            if layer < len(self._all_blocks) and isinstance(getattr(encoder, name, None), nn.Module)
        }
        self._set_final_norms(cut=True)
        self._requires_grad = {name: p.requires_grad for name, p in encoder.named_parameters()}
        if frozen:
            for parameter in encoder.parameters():
                parameter.requires_grad_(False)

    @property
    def n_selected(self) -> int:
        """Inputs of each head: the number of selected dims (the hidden size for all dims)."""
        return int(self.selected_dims.numel()) or self.hidden_size

    def add_head(self, task: str, kind: str, n_outputs: int) -> nn.Module:
        """A fresh head for ``task`` (initialised from torch's current RNG state)."""
        head = build_head(kind, self.n_selected, n_outputs, hidden_width=self.hidden_size)
        head.to(self.selected_dims.device)
        self.heads[task] = head
        return head

    def train(self, mode: bool = True) -> SelectedDimsModel:
        super().train(mode)
        if self.frozen:
            self.encoder.eval()  # frozen features: no dropout, the numbers the cache holds
        return self

    def pooled(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        special_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Pooled layer-``L`` vectors (B, H), in float32, before dim selection."""
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            inputs["token_type_ids"] = token_type_ids
        with torch.no_grad() if self.frozen else nullcontext():
            hidden = self.encoder(**inputs).last_hidden_state  # (B, T, H) = hidden_states[L]
        vectors, _ = pool(
            hidden.float(),
            attention_mask,
            special_mask,
            self.pooling,
            maxnorm_includes_special=self.maxnorm_includes_special,
        )
        return vectors

    def head_outputs(self, task: str, pooled: torch.Tensor) -> torch.Tensor:
        """Logits (B, C) or scores (B, 1) of ``task``'s head from the selected dims of ``pooled``."""
        selected = (
            pooled.index_select(1, self.selected_dims) if self.selected_dims.numel() else pooled
        )
        return self.heads[task](selected)

    def forward(
        self,
        task: str,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        special_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        pooled = self.pooled(input_ids, attention_mask, special_mask, token_type_ids)
        return self.head_outputs(task, pooled)

    def trainable_parameters(self, task: str) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
        """(encoder parameters that get gradients, ``task``'s head parameters).

        Only blocks below the cut and the embeddings are listed; with ``frozen`` the first
        list is empty. Old tasks' heads are not trained again.
        """
        encoder_parameters = [p for p in self.encoder.parameters() if p.requires_grad]
        return encoder_parameters, list(self.heads[task].parameters())

    def _set_final_norms(self, *, cut: bool) -> None:
        for name, norm in self._final_norms.items():
            setattr(self.encoder, name, nn.Identity() if cut else norm)

    def restore_encoder(self) -> nn.Module:
        """Put the full block list, the pooler and the ``requires_grad`` flags back for good."""
        setattr(self._block_container, self._block_list_name, nn.ModuleList(self._all_blocks))
        if self._pooler is not None:
            self.encoder.pooler = self._pooler
        self._set_final_norms(cut=False)
        for name, parameter in self.encoder.named_parameters():
            parameter.requires_grad_(self._requires_grad.get(name, parameter.requires_grad))
        return self.encoder

    @contextmanager
    def full_encoder(self) -> Iterator[nn.Module]:
        """The encoder with all its blocks and its pooler back in place (to hash or save it)."""
        truncated = getattr(self._block_container, self._block_list_name)
        setattr(self._block_container, self._block_list_name, nn.ModuleList(self._all_blocks))
        if self._pooler is not None:
            self.encoder.pooler = self._pooler
        self._set_final_norms(cut=False)
        try:
            yield self.encoder
        finally:
            setattr(self._block_container, self._block_list_name, truncated)
            if self._pooler is not None:
                self.encoder.pooler = None
            self._set_final_norms(cut=True)
