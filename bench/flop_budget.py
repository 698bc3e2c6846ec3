"""How fast a finished `forgetfilter filter` run could have been: its executed FLOPs per stage against the peak.

Reads RUN/stages.json (stage seconds, optimizer steps) and RUN/config.json, tokenises the run's data exactly as the
run did, and counts the FLOPs each stage executes with the formula of bench/train_throughput.py: a training pass of
an example of L tokens, R of them response tokens, is L*(4*N_body + 6*T) + l*6*L^2*h + R*4*V*h; a scoring pass is
L*2*N_body + l*2*L^2*h + R*2*V*h (padding not counted, so these are lower bounds). Dividing by this machine's
measured matmul peak in the run's dtype gives the least time each stage could take at 100% (and 50%) of the peak,
and the stage's actual time gives its MFU. Prints one table; ``--out-md`` appends it to bench/results.md.

    python bench/flop_budget.py runs/readme-job/auto \
        --data runs/bias-data/d_noisy.jsonl --safe runs/bias-data/d_safe.jsonl
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from machine import append_section, command_line, describe_machine, markdown_table, model_shape, peak_flops


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="a finished `forgetfilter filter` run folder")
    parser.add_argument("--data", type=Path, required=True, help="the run's --data file")
    parser.add_argument("--safe", type=Path, required=True, help="the run's --safe file")
    parser.add_argument("--out-md", type=Path, default=None)
    args = parser.parse_args(argv)

    import torch

    from forgetfilter.batching import tokenize
    from forgetfilter.data.formats import read_examples
    from forgetfilter.models import LoraSettings, add_lora, load_model

    stages = json.loads((args.run / "stages.json").read_text(encoding="utf-8"))
    config = json.loads((args.run / "config.json").read_text(encoding="utf-8"))
    dtype = stages["precision"]["dtype"]
    model, tokenizer = load_model(config.get("model"), dtype=dtype)
    lora = config["lora"]
    model = add_lora(model, LoraSettings(**{**lora, "target_modules": tuple(lora["target_modules"])}))
    shape = model_shape(model)
    n_body, trainable, layers, hidden, vocab = (shape[k] for k in ("n_body", "trainable", "layers", "hidden", "vocab"))

    def lengths(path: Path, max_length: int) -> list[tuple[int, int]]:
        items = [tokenize(tokenizer, ex, max_length=max_length) for ex in read_examples(path).examples]
        return [(len(t.input_ids), t.response_length) for t in items]

    def train_flops(sizes: list[tuple[int, int]]) -> float:
        return sum(
            L * (4 * n_body + 6 * trainable) + layers * 6 * L * L * hidden + R * 4 * vocab * hidden for L, R in sizes
        )

    def score_flops(sizes: list[tuple[int, int]]) -> float:
        return sum(L * 2 * n_body + layers * 2 * L * L * hidden + R * 2 * vocab * hidden for L, R in sizes)

    noisy = lengths(args.data, config["s1"]["max_length"])
    safe = lengths(args.safe, config["s1_plus"]["max_length"])
    flops: dict[str, float] = {}
    for stage in stages:  # in the order the run ran them
        if stage in ("s1", "s1_plus"):
            sizes = noisy if stage == "s1" else safe
            seen = stages[stage]["steps"] * config[stage]["batch_size"] * config[stage]["grad_accum"]
            flops[stage] = train_flops(sizes) * seen / len(sizes)  # epochs as run, rounded up to whole batches
        elif stage in ("score_m0", "score_m1", "score_m2"):
            flops[stage] = score_flops(noisy)  # scoring reads D_noisy at S1's max_length
    peak = peak_flops(getattr(torch, dtype))
    rows = []
    for stage, work in flops.items():
        actual = stages[stage]["seconds"]
        rows.append(
            [
                stage,
                f"{work / 1e12:.3g}",
                f"{work / peak:.0f}",
                f"{2 * work / peak:.0f}",
                f"{actual:.0f}",
                f"{work / actual / peak:.1%}",
            ]
        )
    total, total_actual = sum(flops.values()), sum(stages[s]["seconds"] for s in flops)
    rows.append(
        [
            "all stages",
            f"{total / 1e12:.3g}",
            f"{total / peak:.0f}",
            f"{2 * total / peak:.0f}",
            f"{total_actual:.0f}",
            f"{total / total_actual / peak:.1%}",
        ]
    )
    table = markdown_table(["stage", "TFLOP executed", "s at 100% of peak", "s at 50%", "s actual", "MFU"], rows)
    mean_noisy = sum(L for L, _ in noisy) / len(noisy)
    body = (
        f"{table}\n\nRun {args.run}: {len(noisy)} examples (mean {mean_noisy:.0f} tokens, "
        f"{sum(R for _, R in noisy) / len(noisy):.0f} of them response), D_safe {len(safe)}; dtype {dtype}; "
        f"peak {peak / 1e9:.1f} GFLOP/s (a {dtype} 2048^3 matmul, {torch.get_num_threads()} threads). "
        f"N_body {n_body / 1e6:.1f}M, trainable {trainable / 1e6:.2f}M, {layers} layers, hidden {hidden}, "
        f"vocab {vocab}."
    )
    print(body)
    if args.out_md:
        machine = describe_machine(dtype=getattr(torch, dtype))
        append_section(args.out_md, "FLOP budget of a filter run", command_line(__file__, argv), machine, body)
    return body


if __name__ == "__main__":
    main()
