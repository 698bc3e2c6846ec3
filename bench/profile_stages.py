"""Where the time of a training step and of a scoring pass goes: torch.profiler on the real model.

Loads the model as a run would (``--dtype``, default auto), adds the default LoRA adapter, takes ``--limit``
examples stratified by role and profiles, after an untimed warm-up, ``--steps`` training steps (forgetfilter's own
session code) and one teacher-forced scoring pass over the examples. Prints the top operators by self CPU time for
each and the share of a few groups (matrix multiplies, attention, dtype casts, dropout, optimizer), and appends
both to results.md.

    python bench/profile_stages.py --data runs/bias-data/d_noisy.jsonl --limit 32 --steps 2
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path
from typing import Any

from machine import RESULTS_MD, append_section, command_line, describe_machine, markdown_table, stratified_sample

# operator-name fragments -> group (first match wins)
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("attention", ("attention", "sdpa", "flash")),
    ("matmul", ("mm", "matmul", "linear", "addmm", "bmm")),
    ("dropout", ("bernoulli", "dropout")),
    ("dtype casts", ("to_copy", "aten::to", "copy_")),
    ("optimizer", ("adam", "foreach", "lerp", "addcdiv")),
    ("softmax / loss", ("softmax", "nll_loss", "cross_entropy")),
    ("elementwise", ("mul", "add", "silu", "rsqrt", "pow", "mean", "neg", "cat", "where")),
)


def group_of(name: str) -> str:
    lowered = name.lower()
    for group, fragments in GROUPS:
        if any(f in lowered for f in fragments):
            return group
    return "other"


def summarise(profile: Any, top: int) -> tuple[str, dict[str, float]]:
    """A markdown table of the ``top`` operators by self CPU time, and the share of each group."""
    events = [e for e in profile.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events)
    events.sort(key=lambda e: e.self_cpu_time_total, reverse=True)
    rows = [
        [e.key, e.count, f"{e.self_cpu_time_total / 1e6:.2f}", f"{e.self_cpu_time_total / total:.1%}"]
        for e in events[:top]
    ]
    groups: dict[str, float] = defaultdict(float)
    for e in events:
        groups[group_of(e.key)] += e.self_cpu_time_total / total
    table = markdown_table(["operator", "calls", "self CPU s", "share"], rows)
    return table, dict(sorted(groups.items(), key=lambda kv: -kv[1]))


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", default=None)
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--limit", type=int, default=32, help="examples, stratified by role")
    parser.add_argument("--steps", type=int, default=2, help="training steps profiled")
    parser.add_argument("--top", type=int, default=12, help="operators listed per stage")
    parser.add_argument("--out-md", type=Path, default=RESULTS_MD)
    args = parser.parse_args(argv)

    from torch.profiler import ProfilerActivity, profile

    from forgetfilter.config import FilterConfig, signal_settings
    from forgetfilter.data.formats import read_examples
    from forgetfilter.models import LoraSettings, add_lora, load_model
    from forgetfilter.signals import teacher_forced_signals
    from forgetfilter.training import SessionSettings, train_session

    examples = list(read_examples(args.data).examples)
    examples = stratified_sample(examples, [ex.role or "unknown" for ex in examples], args.limit, seed=0)
    model, tokenizer = load_model(args.model, dtype=args.dtype)
    model = add_lora(model, LoraSettings())
    defaults = FilterConfig()
    settings = SessionSettings(max_steps=args.steps, grad_accum=1, checkpoint_every=0)
    scoring = {k: v for k, v in signal_settings(defaults).items() if k != "max_new_tokens"}
    train_session(model, tokenizer, examples[:8], SessionSettings(max_steps=1, checkpoint_every=0), desc="warm-up")
    teacher_forced_signals(model, tokenizer, examples[:8], **scoring, progress=False)

    sections, shares = [], {}
    for stage in ("training", "scoring"):
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            if stage == "training":
                train_session(model, tokenizer, examples, settings, desc="profiled")
            else:
                teacher_forced_signals(model, tokenizer, examples, **scoring, progress=False)
        table, groups = summarise(prof, args.top)
        shares[stage] = groups
        group_line = ", ".join(f"{g} {s:.0%}" for g, s in groups.items())
        sections.append(f"### {stage}\n\n{table}\n\nBy group: {group_line}.")
        print(sections[-1], "\n")
    dtype = next(p.dtype for p in model.parameters() if not p.requires_grad)
    body = "\n\n".join(sections) + (
        f"\n\n{len(examples)} examples; training: {args.steps} steps at batch {settings.batch_size}; "
        f"scoring: one pass at batch {scoring['batch_size']}; base weights {dtype}."
    )
    append_section(
        args.out_md,
        "Profile of a training step and a scoring pass",
        command_line(__file__, argv),
        describe_machine(dtype),
        body,
        settings={"examples": len(examples), "steps": args.steps, "dtype": args.dtype},
    )
    return shares


if __name__ == "__main__":
    main()
