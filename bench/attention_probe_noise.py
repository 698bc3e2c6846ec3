"""How often the training attention probe's answer flips, and whether letting the kernels take turns helps.

``attention: auto`` trains a micro-batch width with eager attention when a probe finds eager at least
``MIN_ATTENTION_SPEEDUP`` (1.1x) faster than sdpa (forgetfilter.precision). Near that bar the answer rests on timing
noise. This times the same shape ``--trials`` times with each of two probes, alternating, in one process:

- the probe (``forgetfilter.precision.measure_attention``): sdpa best of 3, then eager best of 3;
- a variant tried and not adopted: the two kernels take turns, best of 5 each;

and prints the spread of eager's speed-up and how many trials would choose eager.

    python bench/attention_probe_noise.py --out-md bench/results.md
"""

from __future__ import annotations

import argparse
import statistics
import time

from machine import RESULTS_MD, append_section, command_line, describe_machine, markdown_table


def probe_in_turns(shape: tuple[int, int, int, int], dtype, repeats: int = 5) -> dict[str, float]:  # noqa: ANN001
    """The variant: one warm-up each, then sdpa and eager take turns, each kernel's best of ``repeats``."""
    import torch
    import torch.nn.functional as F

    generator = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(shape, generator=generator).to(dtype).requires_grad_() for _ in range(3))
    width = shape[2]
    mask = torch.full((width, width), float("-inf")).triu(1).to(dtype)[None, None]

    def sdpa():  # noqa: ANN202
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)

    def eager():  # noqa: ANN202
        scores = (q @ k.transpose(-1, -2)) * (shape[-1] ** -0.5) + mask
        return torch.softmax(scores, dim=-1, dtype=torch.float32).to(dtype) @ v

    kernels = {"sdpa": sdpa, "eager": eager}
    for function in kernels.values():
        function().sum().backward()
    best = dict.fromkeys(kernels, float("inf"))
    for _ in range(repeats):
        for name, function in kernels.items():
            started = time.perf_counter()
            function().sum().backward()
            best[name] = min(best[name], time.perf_counter() - started)
    return {f"{name}_s": seconds for name, seconds in best.items()}


def main(argv: list[str] | None = None) -> list[list[str]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--widths", default="256,384")
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--rows", type=int, default=8)
    parser.add_argument("--heads", type=int, default=9)
    parser.add_argument("--head-dim", type=int, default=64)
    parser.add_argument("--dtype", default="bfloat16", choices=("bfloat16", "float32"))
    parser.add_argument("--out-md", default=None, help=f"append the table to this file (e.g. {RESULTS_MD})")
    args = parser.parse_args(argv)

    import torch

    from forgetfilter.precision import MIN_ATTENTION_SPEEDUP, measure_attention

    dtype = getattr(torch, args.dtype)
    probes = {"the probe (best of 3 each)": measure_attention, "turns, best of 5 (not adopted)": probe_in_turns}
    rows = []
    for width in (int(w) for w in args.widths.split(",")):
        shape = (args.rows, args.heads, width, args.head_dim)
        speedups: dict[str, list[float]] = {name: [] for name in probes}
        for _ in range(args.trials):  # the two probes alternate, so both see the same moments of the machine
            for name, probe in probes.items():
                times = probe(shape, dtype)
                speedups[name].append(times["sdpa_s"] / times["eager_s"])
        for name, values in speedups.items():
            eager = sum(value >= MIN_ATTENTION_SPEEDUP for value in values)
            rows.append(
                [
                    str(width),
                    name,
                    f"{min(values):.2f}x",
                    f"{statistics.median(values):.2f}x",
                    f"{max(values):.2f}x",
                    f"{eager} of {len(values)}",
                ]
            )
            print(" | ".join(rows[-1]), flush=True)
    header = ["width", "probe", "min speed-up", "median", "max", f"trials choosing eager (>= {MIN_ATTENTION_SPEEDUP}x)"]
    body = (
        f"{markdown_table(header, rows)}\n\n{args.rows} rows x {args.heads} heads x head size {args.head_dim}, "
        f"{args.dtype}, causal, forward + backward; eager's speed-up = sdpa seconds / eager seconds; "
        f"torch threads {torch.get_num_threads()}."
    )
    print(body)
    if args.out_md:
        append_section(args.out_md, "Attention probe noise", command_line(__file__, argv), describe_machine(), body)
    return rows


if __name__ == "__main__":
    main()
