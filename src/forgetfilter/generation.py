"""Batched greedy generation: left padding, length-sorted batches, results back in input order."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from forgetfilter import distributed
from forgetfilter.errors import ConfigError


@dataclass(frozen=True)
class Generations:
    """Decoded continuations aligned to the input prompts, with throughput figures."""

    texts: list[str]
    new_tokens: list[int]
    seconds: float

    @property
    def tokens_per_second(self) -> float:
        return sum(self.new_tokens) / self.seconds if self.seconds > 0 else 0.0

    def stats(self) -> dict[str, float]:
        return {
            "generation_seconds": round(self.seconds, 3),
            "generated_tokens": float(sum(self.new_tokens)),
            "tokens_per_second": round(self.tokens_per_second, 2),
        }


def stop_token_ids(tokenizer: Any) -> list[int]:
    """Token ids that end a generation: eos and, for ChatML models, ``<|im_end|>``."""
    ids = {tokenizer.eos_token_id}
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>") if "<|im_end|>" in tokenizer.get_vocab() else None
    ids.add(im_end)
    return sorted(i for i in ids if i is not None)


def _count_new(row: list[int], stops: set[int], pad_id: int | None) -> int:
    """Generated tokens up to and including the first stop token (padding after it is not counted)."""
    for position, token in enumerate(row):
        if token in stops:
            return position + 1
    return sum(1 for token in row if token != pad_id) if pad_id not in stops else len(row)


def _generate_batch(
    model: Any, tokenizer: Any, prompts: list[str], *, max_new_tokens: int, max_prompt_tokens: int, stops: list[int]
) -> tuple[list[str], list[int]]:
    import torch

    encoded = [tokenizer(p, add_special_tokens=False)["input_ids"][-max_prompt_tokens:] or stops[:1] for p in prompts]
    width = max(len(ids) for ids in encoded)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stops[0]
    input_ids = torch.full((len(encoded), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(encoded), width), dtype=torch.long)
    for row, ids in enumerate(encoded):  # left padding: the prompt ends where generation starts
        input_ids[row, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
        attention[row, width - len(ids) :] = 1
    device = next(model.parameters()).device
    with torch.inference_mode():
        output = model.generate(
            input_ids=input_ids.to(device),
            attention_mask=attention.to(device),
            do_sample=False,
            max_new_tokens=max_new_tokens,
            eos_token_id=stops,
            pad_token_id=pad_id,
            num_beams=1,
            temperature=None,
            top_p=None,
            top_k=None,
        )
    new = output[:, width:].tolist()
    counts = [_count_new(row, set(stops), pad_id) for row in new]
    texts = [tokenizer.decode(row[:n], skip_special_tokens=True).strip() for row, n in zip(new, counts, strict=True)]
    return texts, counts


def generation_batches(prompts: Sequence[str], batch_size: int) -> list[list[int]]:
    """The batches ``generate`` forms: prompt indices, longest prompt first (ties in input order)."""
    order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
    return [order[offset : offset + batch_size] for offset in range(0, len(order), batch_size)]


def generate(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    *,
    max_new_tokens: int = 64,
    batch_size: int = 8,
    max_prompt_tokens: int = 1024,
    progress: bool = True,
    desc: str = "generating",
) -> Generations:
    """Greedy continuations of already rendered ``prompts`` (see ``forgetfilter.chat.render_prompt``).

    Prompts are batched longest first (little padding) and the texts come back in input order,
    stripped, without the stop token. Works with plain and PEFT-wrapped models. Launched in several processes
    (forgetfilter.distributed), each generates its share of the batches and every process gets every text and token
    count back, the same as one process (each batch keeps its padding); ``seconds`` is this process's.
    """
    if max_new_tokens < 1 or batch_size < 1:
        raise ConfigError(f"max_new_tokens and batch_size must be >= 1 (got {max_new_tokens}, {batch_size})")
    from tqdm.auto import tqdm

    stops = stop_token_ids(tokenizer)
    texts: list[str] = [""] * len(prompts)
    counts: list[int] = [0] * len(prompts)
    start = time.perf_counter()
    was_training = model.training
    model.eval()  # greedy decoding of a model in train mode would apply dropout
    batches = generation_batches(prompts, batch_size)
    if distributed.launched():  # whole batches, balanced by rows
        batches = [batches[b] for b in distributed.balanced_shard([len(b) for b in batches])]
    shown = progress and distributed.is_main()
    bar = tqdm(total=sum(map(len, batches)), desc=desc, unit="prompt", disable=not shown, leave=False)
    for batch in batches:
        batch_texts, batch_counts = _generate_batch(
            model,
            tokenizer,
            [prompts[i] for i in batch],
            max_new_tokens=max_new_tokens,
            max_prompt_tokens=max_prompt_tokens,
            stops=stops,
        )
        for i, text, count in zip(batch, batch_texts, batch_counts, strict=True):
            texts[i], counts[i] = text, count
        bar.update(len(batch))
        elapsed = time.perf_counter() - start
        bar.set_postfix(tok_s=f"{sum(counts) / max(elapsed, 1e-9):.1f}")
    bar.close()
    model.train(was_training)
    seconds = time.perf_counter() - start
    if distributed.launched():
        merged = distributed.gather_by_index({i: (texts[i], counts[i]) for batch in batches for i in batch})
        texts, counts = [merged[i][0] for i in range(len(prompts))], [merged[i][1] for i in range(len(prompts))]
    return Generations(texts=texts, new_tokens=counts, seconds=seconds)
