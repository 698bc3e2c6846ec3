"""How far the evaluation's scorers can be trusted: each one against labelled text from the shared datasets.

- **Harmfulness judge** (``forgetfilter.evaluate.harmfulness.classify_response``: refusal / compliance / incoherent;
  "harmful" = compliance, the headline ``harmful_compliance_rate``), on replies whose harmfulness is labelled:
  HH-RLHF harmless-base test (``rejected``, the more harmful reply of each pair, against ``chosen``) and the safe
  replies of safety-tuned-llamas' training set (refusals and corrections of harmful instructions). The judge's
  refusal phrases were extended while reading safety-tuned-llamas replies, so that row is in-sample.
- **Toxicity scorer** (``profanity``: alt-profanity-check, a linear SVM on TF-IDF trained on Davidson et al.'s tweets,
  i.e. ``hate-speech-offensive``, and Jigsaw's Wikipedia comments): held out from its training, ToxiGen's
  human-written hate / neutral statements and the RealToxicityPrompts challenging prompts (their shipped score >= 0.5
  as the label, itself a Perspective-style model score, not a human label); seen in its training, the
  hate-speech-offensive tweets (class hate or offensive against neither) and the Jigsaw sample (``toxic``). The
  harmfulness suite also reports this scorer's mean on the replies (``classifier_mean``): it is checked on HH-RLHF
  rejected against chosen.

Per set: the rate of each label, and accuracy, precision, recall and F1 of the binary decision (judge: compliance;
scorer: probability > 0.5) with AUROC for the scorer's probability. Prints the tables and appends them to
bench/results.md.

    python bench/judge_validation.py
"""

from __future__ import annotations

import argparse
import csv
from collections import Counter
from pathlib import Path

import numpy as np
from machine import RESULTS_MD, append_section, command_line, describe_machine, markdown_table
from sklearn.metrics import accuracy_score, precision_recall_fscore_support, roc_auc_score

from forgetfilter.data.sources._common import dataset_file
from forgetfilter.data.sources.harmful import load_hh_rlhf, load_safety_tuned_llamas_training
from forgetfilter.data.sources.toxicity import load_hate_speech_offensive, load_realtoxicityprompts
from forgetfilter.errors import DataError
from forgetfilter.evaluate.harmfulness import classify_response
from forgetfilter.evaluate.toxicity import get_scorer
from forgetfilter.paths import resolve_data_dir

LABELS = ("compliance", "refusal", "incoherent")


def read_toxigen(data_dir: Path | None) -> tuple[list[str], list[bool]]:
    """ToxiGen demonstrations: one statement per line, "- " first; hate when the file name starts with ``hate_``."""
    folder = resolve_data_dir(data_dir) / "toxigen-demonstrations" / "demonstrations"
    if not folder.is_dir():
        raise DataError("ToxiGen demonstrations folder not found under the data dir", path=folder)
    label: dict[str, bool] = {}  # statement -> hate; the files repeat some statements (587 distinct)
    for path in sorted(folder.rglob("*.txt")):
        if not path.name.startswith(("hate_", "neutral_")):
            raise DataError("not a hate_/neutral_ demonstrations file", path=path)
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            text = line.strip().removeprefix("- ").strip()
            if text and label.setdefault(text, path.name.startswith("hate_")) != path.name.startswith("hate_"):
                raise DataError("statement labelled both hate and neutral", path=path, line=number)
    return list(label), list(label.values())


def read_jigsaw(data_dir: Path | None) -> tuple[list[str], list[bool]]:
    """The Jigsaw sample's labelled rows (train.csv; test.csv carries -1 placeholders, not labels)."""
    path = dataset_file(data_dir, "jigsaw-toxic-sample", "train.csv")
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [r["comment_text"] for r in rows], [r["toxic"] == "1" for r in rows]


def binary(truth: list[bool], decided: list[bool]) -> dict[str, float]:
    precision, recall, f1, _ = precision_recall_fscore_support(truth, decided, average="binary", zero_division=0)
    return {"accuracy": accuracy_score(truth, decided), "precision": precision, "recall": recall, "f1": f1}


def judge_rows(data_dir: Path | None) -> tuple[str, str]:
    hh = load_hh_rlhf(data_dir)
    sets = {
        "HH-RLHF rejected (harmful)": [ex.response for ex in hh if ex.meta["preference"] == "rejected"],
        "HH-RLHF chosen (less harmful)": [ex.response for ex in hh if ex.meta["preference"] == "chosen"],
        "safety-tuned-llamas safe replies (in-sample)": [
            ex.response for ex in load_safety_tuned_llamas_training(data_dir)
        ],
    }
    labels = {name: [classify_response(text) for text in texts] for name, texts in sets.items()}
    rates = []
    for name, judged in labels.items():
        counts = Counter(judged)
        rates.append([name, len(judged), *(f"{counts[label] / len(judged):.3f}" for label in LABELS)])
    rate_table = markdown_table(["replies", "n", *(f"judged {label}" for label in LABELS)], rates)

    rejected, chosen, safe = labels.values()
    decisions = []
    for name, negatives in (
        ("harmful = HH rejected; not = HH chosen", chosen),
        ("harmful = HH rejected; not = safety-tuned-llamas", safe),
        ("harmful = HH rejected; not = both", chosen + safe),
    ):
        truth = [True] * len(rejected) + [False] * len(negatives)
        decided = [label == "compliance" for label in rejected + negatives]
        figures = binary(truth, decided)
        decisions.append([name, len(truth), *(f"{figures[k]:.3f}" for k in ("accuracy", "precision", "recall", "f1"))])
    header = ["judged harmful (compliance)", "n", "accuracy", "precision", "recall", "F1"]
    decision_table = markdown_table(header, decisions)
    return rate_table, decision_table


def scorer_rows(data_dir: Path | None) -> str:
    score = get_scorer("profanity")
    hso = load_hate_speech_offensive(data_dir)
    rtp = load_realtoxicityprompts(data_dir)
    hh = load_hh_rlhf(data_dir)
    sets = {
        "ToxiGen demonstrations, hate vs neutral (held out)": read_toxigen(data_dir),
        "RealToxicityPrompts challenging, score >= 0.5 (held out; label is a model score)": (
            [ex.original["text"] for ex in rtp],
            [ex.meta["toxicity"] >= 0.5 for ex in rtp],
        ),
        "hate-speech-offensive tweets, hate or offensive vs neither (in its training data)": (
            [ex.original["tweet"] for ex in hso],
            [ex.meta["class"] in (0, 1) for ex in hso],
        ),
        "Jigsaw sample, toxic (in its training data)": read_jigsaw(data_dir),
        "HH-RLHF replies, rejected vs chosen (held out; harm, not toxicity: the harmfulness suite's classifier)": (
            [ex.response for ex in hh],
            [ex.meta["preference"] == "rejected" for ex in hh],
        ),
    }
    rows = []
    for name, (texts, truth) in sets.items():
        probability = np.asarray(score(texts))
        figures = binary(truth, list(probability > 0.5))
        rows.append(
            [
                name,
                len(texts),
                f"{np.mean(truth):.3f}",
                f"{roc_auc_score(truth, probability):.3f}",
                *(f"{figures[k]:.3f}" for k in ("accuracy", "precision", "recall", "f1")),
            ]
        )
    return markdown_table(
        ["labelled text", "n", "share toxic", "AUROC", "accuracy (> 0.5)", "precision", "recall", "F1"], rows
    )


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=None, help="the shared datasets (default ../shared/datasets)")
    parser.add_argument("--out-md", type=Path, default=RESULTS_MD)
    args = parser.parse_args(argv)
    rates, decisions = judge_rows(args.data_dir)
    body = "\n\n".join(
        [
            "Harmfulness judge, label rates:",
            rates,
            "Harmfulness judge, 'harmful' = judged compliance:",
            decisions,
            "Toxicity scorer (profanity), probability > 0.5 = toxic:",
            scorer_rows(args.data_dir),
        ]
    )
    print(body)
    append_section(args.out_md, "Scorer validation", command_line(__file__, argv), describe_machine(), body)
    return body


if __name__ == "__main__":
    main()
