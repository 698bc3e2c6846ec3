"""Per-example signals of how well a model knows an example, computed in batches.

Direction: for ``nll`` and ``log_nll`` (its logarithm, so forgetting is the log-ratio NLL_M2 / NLL_M1) lower
means the example is known better; for ``token_accuracy`` and ``rouge`` higher means known better.
``forgetting`` (see selection.py) turns each into "higher = forgotten more".
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

from forgetfilter import distributed
from forgetfilter.batching import Tokenized, collate, length_grouped_batches, tokenize
from forgetfilter.chat import render_prompt
from forgetfilter.errors import ConfigError
from forgetfilter.examples import Example
from forgetfilter.forward import logits_at

SIGNALS: tuple[str, ...] = ("log_nll", "nll", "token_accuracy", "rouge")
TOKEN_SELECTIONS: tuple[str, ...] = ("all", "answer")
LOWER_IS_KNOWN = {"nll", "log_nll"}  # signals where a lower value means the model knows the example better


def log_nll(nll: Sequence[float]) -> list[float]:
    """The ``log_nll`` signal from per-example mean NLLs (floored at 1e-6 so a memorised example stays finite)."""
    return [math.log(max(value, 1e-6)) for value in nll]


def check_signal(signal: str) -> str:
    if signal not in SIGNALS:
        raise ConfigError(f"unknown signal {signal!r}; choose one of {', '.join(SIGNALS)}")
    return signal


def answer_spans(
    tokenized: Sequence[Tokenized], *, suffix_lens: Sequence[int], min_share: float = 0.1
) -> list[tuple[int, int]]:
    """Per example, the response token span that carries the answer, as (start, end) offsets in the response.

    Drops the end-of-turn suffix and any leading response tokens that at least ``min_share`` of all
    examples share as a response prefix (boilerplate like "The" or "Sure, here is"), so the signal reads
    the tokens that differ between examples. At least one token is always kept.
    """
    prefixes: Counter[tuple[int, ...]] = Counter()
    bodies = []
    for item, suffix_len in zip(tokenized, suffix_lens, strict=True):
        body = item.input_ids[item.response_start : len(item.input_ids) - suffix_len]
        bodies.append(body)
        for k in range(1, min(len(body), 16) + 1):
            prefixes[tuple(body[:k])] += 1
    threshold = max(2, min_share * len(tokenized))
    spans = []
    for body in bodies:
        start = 0
        while start < len(body) - 1 and prefixes[tuple(body[: start + 1])] >= threshold:
            start += 1
        spans.append((start, max(start + 1, len(body))) if body else (0, 1))
    return spans


def _suffix_len(tokenizer: Any, example: Example) -> int:
    from forgetfilter.chat import response_suffix

    suffix = response_suffix(tokenizer, chat=example.chat)
    return len(tokenizer(suffix, add_special_tokens=False)["input_ids"]) if suffix else 0


def token_losses(
    model: Any,
    tokenizer: Any,
    tokenized: Sequence[Tokenized],
    spans: Sequence[tuple[int, int]],
    batches: Sequence[Sequence[int]],
    *,
    progress: bool = False,
    desc: str = "scoring",
) -> Iterator[tuple[int, Any, Any]]:
    """Teacher-forced loss of each selected response token: yields ``(index, token_nll, token_hit)`` per example of
    ``batches`` (lists of indices into ``tokenized``), where ``token_nll`` is the NLL of each token of the response
    span ``spans[index]`` (offsets into the response) and ``token_hit`` whether the greedy prediction was that token.
    Both are 1-D float tensors on the CPU; the output layer runs in fp32 (``logits_at(..., float_head=True)``).
    The model is left in the mode it is in: call ``model.eval()`` first to score without dropout."""
    import torch
    from tqdm.auto import tqdm

    device = next(model.parameters()).device
    with torch.no_grad():
        for batch_ids in tqdm(batches, desc=desc, unit="batch", disable=not progress, dynamic_ncols=True):
            batch = collate([tokenized[i] for i in batch_ids], tokenizer.pad_token_id)
            rows, cols, counts = [], [], []
            for row, index in enumerate(batch_ids):
                lo, hi = spans[index]
                first = tokenized[index].response_start + lo
                rows += [row] * (hi - lo)
                cols += range(first - 1, first - 1 + hi - lo)  # the position before each target predicts it
                counts.append(hi - lo)
            r, c = torch.tensor(rows), torch.tensor(cols)
            ids = batch["input_ids"].to(device)
            logits = logits_at(
                model, ids, batch["attention_mask"].to(device), r.to(device), c.to(device), float_head=True
            ).float()
            targets = ids[r, c + 1]
            token_nll = (-torch.log_softmax(logits, dim=-1).gather(1, targets[:, None]).squeeze(1)).cpu()
            token_hit = (logits.argmax(-1) == targets).float().cpu()
            for index, nll, hit in zip(batch_ids, token_nll.split(counts), token_hit.split(counts), strict=True):
                yield index, nll, hit


def teacher_forced_signals(
    model: Any,
    tokenizer: Any,
    examples: Sequence[Example],
    *,
    token_selection: str,
    batch_size: int,
    max_length: int,
    progress: bool = True,
    desc: str = "scoring",
) -> dict[str, list[float]]:
    """Mean NLL and greedy token accuracy of each example's target response (one forward pass each).

    The settings have no defaults here: they live in ``FilterConfig`` (``token_selection``, ``score_batch_size``,
    ``s1.max_length``), so a direct call cannot score differently from the CLI by accident.

    Returns ``{"nll": [...], "token_accuracy": [...]}`` aligned to ``examples``. Launched in several processes,
    each scores its share of the batches (the same batches as one process, so the same values) and every process
    gets them all back.
    """
    if token_selection not in TOKEN_SELECTIONS:
        raise ConfigError(f"unknown token selection {token_selection!r}; choose {' or '.join(TOKEN_SELECTIONS)}")
    tokenized = [tokenize(tokenizer, ex, max_length=max_length) for ex in examples]
    if token_selection == "answer":
        spans = answer_spans(tokenized, suffix_lens=[_suffix_len(tokenizer, ex) for ex in examples])
    else:
        spans = [(0, t.response_length) for t in tokenized]
    nll, accuracy = [0.0] * len(examples), [0.0] * len(examples)
    was_training = model.training
    model.eval()
    batches = length_grouped_batches([len(t.input_ids) for t in tokenized], batch_size, seed=None)
    if distributed.launched():  # cost of a batch: its padded tokens
        costs = [len(b) * max(len(tokenized[i].input_ids) for i in b) for b in batches]
        batches = [batches[i] for i in distributed.balanced_shard(costs)]
    shown = progress and distributed.is_main()
    for index, token_nll, token_hit in token_losses(
        model, tokenizer, tokenized, spans, batches, progress=shown, desc=desc
    ):
        nll[index] = float(token_nll.mean())
        accuracy[index] = float(token_hit.mean())
    model.train(was_training)
    if distributed.launched():
        done = distributed.gather_by_index({i: (nll[i], accuracy[i]) for b in batches for i in b})
        nll, accuracy = [done[i][0] for i in range(len(examples))], [done[i][1] for i in range(len(examples))]
    return {"nll": nll, "token_accuracy": accuracy}


_PUNCT = re.compile(f"[{re.escape(string.punctuation)}]")


def normalize_generation(text: str) -> str:
    """The paper's post-processing: first non-empty line, lower-cased, punctuation stripped."""
    line = next((ln for ln in text.splitlines() if ln.strip()), "")
    return " ".join(_PUNCT.sub(" ", line.lower()).split())


def rouge_signal(
    model: Any,
    tokenizer: Any,
    examples: Sequence[Example],
    *,
    max_new_tokens: int,
    batch_size: int,
    progress: bool = True,
    desc: str = "generating",
) -> dict[str, Any]:
    """The paper's signal: ROUGE-1 F (stemmed) of the greedy generation against the target response.

    Returns ``{"rouge": [...], "generations": [...]}`` aligned to ``examples``. Launched in several processes, each
    generates its share of the batches (the batches of one process) and every process gets every text back.
    """
    from rouge_score import rouge_scorer

    from forgetfilter.generation import generate

    prompts = [render_prompt(tokenizer, ex.messages, chat=ex.chat) for ex in examples]
    texts = generate(
        model, tokenizer, prompts, max_new_tokens=max_new_tokens, batch_size=batch_size, progress=progress, desc=desc
    ).texts
    scorer = rouge_scorer.RougeScorer(["rouge1"], use_stemmer=True)
    scores = [
        scorer.score(normalize_generation(ex.response), normalize_generation(texts[i]))["rouge1"].fmeasure
        for i, ex in enumerate(examples)
    ]
    return {"rouge": scores, "generations": [texts[i] for i in range(len(examples))]}


def compute_signals(
    model: Any,
    tokenizer: Any,
    examples: Sequence[Example],
    signals: Sequence[str],
    *,
    token_selection: str,
    batch_size: int,
    max_length: int,
    max_new_tokens: int,
    progress: bool = True,
    desc: str = "scoring",
) -> dict[str, list[Any]]:
    """All requested signals for ``examples`` (the teacher-forced pair costs one forward pass).

    Settings as in ``FilterConfig``; ``forgetfilter.config.signal_settings(config)`` gives them:
    ``compute_signals(model, tok, examples, config.signals, **signal_settings(config))``.
    """
    out: dict[str, list[Any]] = {}
    for signal in signals:
        check_signal(signal)
    if {"nll", "log_nll", "token_accuracy"} & set(signals):
        out.update(
            teacher_forced_signals(
                model,
                tokenizer,
                examples,
                token_selection=token_selection,
                batch_size=batch_size,
                max_length=max_length,
                progress=progress,
                desc=desc,
            )
        )
    if "log_nll" in signals:  # forgetting = log(NLL_M2 / NLL_M1): a relative change, not dominated by hard examples
        out["log_nll"] = log_nll(out["nll"])
    if "rouge" in signals:
        out.update(
            rouge_signal(
                model,
                tokenizer,
                examples,
                max_new_tokens=max_new_tokens,
                batch_size=batch_size,
                progress=progress,
                desc=desc + " (generate)",
            )
        )
    return out
