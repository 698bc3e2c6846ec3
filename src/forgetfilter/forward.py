"""Forward passes that apply the output layer only where a prediction is needed.

The vocabulary projection is about a fifth of a small model's compute per token; training and scoring
need it only at response positions.
"""

from __future__ import annotations

from typing import Any


def _parts(model: Any) -> tuple[Any, Any] | None:
    """(backbone, output layer) of a causal LM (PEFT-wrapped or not), or None when unsupported."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if getattr(base.config, "final_logit_softcapping", None):
        return None  # models that post-process logits take the full forward pass
    get_decoder = getattr(base, "get_decoder", None)
    backbone = get_decoder() if get_decoder else None
    head = base.get_output_embeddings()
    if backbone is None or head is None or backbone is base:
        return None
    return backbone, head


def logits_at(
    model: Any,
    input_ids: Any,
    attention_mask: Any,
    rows: Any,
    cols: Any,
    *,
    float_head: bool = False,
    whole: bool = False,
) -> Any:
    """Logits predicting the token after each ``(rows[i], cols[i])`` position, shape [len(rows), vocab].

    ``float_head`` applies the output layer in fp32 even when the model computes in bf16: logits of 10-30 carry
    only 2-3 significant digits in bf16, enough to train on but a visible noise in per-example NLL scores.
    ``whole`` runs the model's own forward (a DDP/FSDP/DeepSpeed wrapper gathers and syncs only there).
    """
    parts = None if whole else _parts(model)
    if parts is None:
        return model(input_ids=input_ids, attention_mask=attention_mask).logits[rows, cols].float()
    backbone, head = parts
    hidden = backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state[rows, cols]
    if float_head and head.weight.is_floating_point() and head.weight.element_size() < 4:
        import torch.nn.functional as F

        bias = head.bias.float() if getattr(head, "bias", None) is not None else None
        return F.linear(hidden.float(), head.weight.float(), bias)
    return head(hidden)
