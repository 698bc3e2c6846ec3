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


def logits_at(model: Any, input_ids: Any, attention_mask: Any, rows: Any, cols: Any) -> Any:
    """Logits predicting the token after each ``(rows[i], cols[i])`` position, shape [len(rows), vocab]."""
    parts = _parts(model)
    if parts is None:
        return model(input_ids=input_ids, attention_mask=attention_mask).logits[rows, cols]
    backbone, head = parts
    hidden = backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    return head(hidden[rows, cols])
