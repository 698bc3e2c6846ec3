"""How far the BBQ answer parser can be trusted: ``parse_choice`` against answers labelled by hand.

The answers are the generations of M0, no filter (M1) and sequential (M2) on the bias first check's 200 held-out
BBQ items (docs/results.md, "A first check at the study's scale"; 16 new tokens, greedy). 40 answers per model were
drawn at random (seed 0) as the development set, then 40 more per model from the rest (seed 2) as the held-out set;
each was labelled without seeing the parser's output, by one annotator (a project developer), to this rule: the
label is the option the answer commits to; an answer that lists the options, names two different options, or names
none gets no label (None); where a letter and an option's text disagree ("A. The Syrian family", the Syrian family
being option C) the text counts, as the prompt asks for the text. The held-out labels were committed before the
parser was changed on the development set (git log bench/data).

Per set and model: agreement with the hand label of the parser at evaluation time (``parsed_at_eval``, as recorded
in the run) and of the parser in this checkout, and the kinds of disagreement: an answer the parser leaves unread
(hand label, parser None), one it reads where the hand label has no answer (parser invents), and a wrong option.

    python bench/bbq_parser_validation.py
"""

from __future__ import annotations

import argparse
from pathlib import Path

from machine import RESULTS_MD, append_section, command_line, describe_machine, markdown_table

from forgetfilter.data.jsonl import read_jsonl
from forgetfilter.evaluate.bias import parse_choice

DATA = Path(__file__).parent / "data"
SETS = {
    "development": DATA / "bbq_parser_hand_labels_dev.jsonl",
    "held out": DATA / "bbq_parser_hand_labels_test.jsonl",
}
FIELDS = ("method", "options", "unknown_index", "generation", "parsed_at_eval", "hand_label")


def read_labels(path: Path) -> list[dict]:
    """The labelled answers of one set; every record must carry ``FIELDS``."""
    return [row for _, row in read_jsonl(path, required=FIELDS)]


def tally(rows: list[dict], key: str) -> dict[str, int]:
    """Agreement of ``row[key]`` with the hand label, and the three kinds of disagreement."""
    out = {"agree": 0, "unread": 0, "invented": 0, "wrong option": 0}
    for row in rows:
        hand, parsed = row["hand_label"], row[key]
        if parsed == hand:
            out["agree"] += 1
        elif parsed is None:
            out["unread"] += 1
        elif hand is None:
            out["invented"] += 1
        else:
            out["wrong option"] += 1
    return out


def table(sets: dict[str, Path]) -> str:
    rows = []
    for name, path in sets.items():
        labelled = read_labels(path)
        for row in labelled:
            row["parsed_now"] = parse_choice(row["generation"], row["options"], unknown_index=row["unknown_index"])
        methods = sorted({r["method"] for r in labelled})
        for method in [*methods, "all"]:
            part = [r for r in labelled if method in ("all", r["method"])]
            no_answer = sum(r["hand_label"] is None for r in part) / len(part)
            for parser, key in (("at evaluation", "parsed_at_eval"), ("this checkout", "parsed_now")):
                counts = tally(part, key)
                rows.append(
                    [name, method, str(len(part)), f"{no_answer:.3f}", parser, f"{counts['agree'] / len(part):.3f}"]
                    + [str(counts[k]) for k in ("unread", "invented", "wrong option")]
                )
    header = ["set", "model", "n", "hand: no answer", "parser", "agreement", "unread", "invented", "wrong option"]
    return markdown_table(header, rows)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out-md", type=Path, default=RESULTS_MD)
    args = parser.parse_args(argv)
    body = table(SETS)
    print(body)
    append_section(args.out_md, "BBQ parser validation", command_line(__file__, argv), describe_machine(), body)
    return body


if __name__ == "__main__":
    main()
