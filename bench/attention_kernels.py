"""Attention alone: torch's fused SDPA kernel against "eager" attention (matmul, fp32 softmax, matmul).

The default model's attention shape (8 rows, 9 heads of 64), causal, at widths 128/256/384, in bf16 and fp32: the
best of ``--repeats`` no-grad forwards and forward + backward passes of each. It answers whether transformers'
``attn_implementation="eager"`` would speed a training step up on this machine (it computes its two matmuls on the
matrix units, where the fused kernel's backward may not).

    python bench/attention_kernels.py
"""

from __future__ import annotations

import argparse
import time

from machine import RESULTS_MD, append_section, command_line, describe_machine, markdown_table


def eager(q, k, v, mask):  # noqa: ANN001, ANN201 - tensors
    import torch

    scores = (q @ k.transpose(-1, -2)) * (q.shape[-1] ** -0.5) + mask
    return torch.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype) @ v


def main(argv: list[str] | None = None) -> list[list[str]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--widths", default="128,256,384")
    parser.add_argument("--rows", type=int, default=8)
    parser.add_argument("--heads", type=int, default=9)
    parser.add_argument("--head-dim", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--out-md", default=None, help=f"append the table to this file (e.g. {RESULTS_MD})")
    args = parser.parse_args(argv)

    import torch
    import torch.nn.functional as F

    def best(function) -> tuple[float, float]:  # noqa: ANN001
        forward = both = float("inf")
        for _ in range(args.repeats + 1):  # the first is a warm-up, kept only if it is the best
            started = time.perf_counter()
            with torch.no_grad():
                function()
            forward = min(forward, time.perf_counter() - started)
            started = time.perf_counter()
            function().sum().backward()
            both = min(both, time.perf_counter() - started)
        return forward * 1000, both * 1000

    rows = []
    for width in (int(w) for w in args.widths.split(",")):
        for dtype in (torch.bfloat16, torch.float32):
            generator = torch.Generator().manual_seed(0)
            shape = (args.rows, args.heads, width, args.head_dim)
            q, k, v = (torch.randn(shape, generator=generator).to(dtype).requires_grad_() for _ in range(3))
            mask = torch.full((width, width), float("-inf")).triu(1).to(dtype)[None, None]
            sdpa = best(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True))  # noqa: B023
            plain = best(lambda: eager(q, k, v, mask))  # noqa: B023
            name = str(dtype).removeprefix("torch.")
            rows.append(
                [
                    str(width),
                    name,
                    f"{sdpa[0]:.1f}",
                    f"{plain[0]:.1f}",
                    f"{sdpa[1]:.1f}",
                    f"{plain[1]:.1f}",
                    f"{sdpa[1] / plain[1]:.2f}x",
                ]
            )
            print(" | ".join(rows[-1]), flush=True)
    header = ["width", "dtype", "SDPA fwd ms", "eager fwd ms", "SDPA fwd+bwd ms", "eager fwd+bwd ms", "eager speed-up"]
    table = markdown_table(header, rows)
    body = (
        f"{table}\n\n{args.rows} rows x {args.heads} heads x head size {args.head_dim}, causal; one layer's "
        f"attention; best of {args.repeats + 1}; torch threads {torch.get_num_threads()}."
    )
    print(body)
    if args.out_md:
        append_section(
            args.out_md, "Attention kernels: SDPA vs eager", command_line(__file__, argv), describe_machine(), body
        )
    return rows


if __name__ == "__main__":
    main()
