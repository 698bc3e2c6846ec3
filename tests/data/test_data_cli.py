"""``forgetfilter data build`` and ``forgetfilter data inspect`` run in-process."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from forgetfilter.cli import app

runner = CliRunner()


def test_build_writes_files_and_table(tmp_path, data_dir):
    out = tmp_path / "bias"
    result = runner.invoke(
        app,
        [
            "data",
            "build",
            "--kind",
            "bias",
            "--n",
            "60",
            "--out",
            str(out),
            "--data-dir",
            str(data_dir),
            "--n-eval",
            "20",
            "--n-safe",
            "10",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "d_noisy.jsonl" in result.output and "wrote" in result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "d_noisy.jsonl",
        "d_safe.jsonl",
        "eval_alpaca.jsonl",
        "eval_bias.jsonl",
        "eval_squad.jsonl",
        "manifest.json",
    ]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["files"]["d_noisy.jsonl"]["by_role"] == {"safe": 10, "task": 20, "unsafe": 30}
    assert manifest["files"]["d_safe.jsonl"]["examples"] == 10
    assert manifest["params"]["seed"] == 0
    first_unsafe = next(json.loads(line) for line in (out / "d_noisy.jsonl").open() if '"unsafe"' in line)
    assert first_unsafe["messages"][-1]["content"] not in result.output  # no unsafe text printed


def test_build_bad_kind_is_one_line(tmp_path):
    result = runner.invoke(app, ["data", "build", "--kind", "biass", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "unknown kind 'biass'" in result.output and "did you mean 'bias'" in result.output
    assert "Traceback" not in result.output


def test_inspect_and_rejected(tmp_path):
    path = tmp_path / "mine.jsonl"
    path.write_text('{"instruction": "a", "output": "b", "role": "unsafe"}\n{oops\n{"instruction": "c"}\n')
    result = runner.invoke(app, ["data", "inspect", str(path)])
    assert result.exit_code == 2 and "line 2: malformed JSON line" in result.output
    result = runner.invoke(app, ["data", "inspect", str(path), "--skip-invalid"])
    assert result.exit_code == 0, result.output
    assert "alpaca" in result.output and "rejected 2 records" in result.output
    rejected = [json.loads(line) for line in (tmp_path / "mine.rejected.jsonl").open()]
    assert [r["where"] for r in rejected] == ["line 2", "line 3"]
    assert rejected[1]["reason"] == "missing field 'output' (found ['instruction'])"


def test_inspect_never_writes_over_its_input(tmp_path):
    path = tmp_path / "rejected.jsonl"  # a file that happens to carry the old default name of the rejects
    text = "".join(f'{{"instruction": "a{i}", "output": "b"}}\n{{oops\n' for i in range(3))
    path.write_text(text)
    result = runner.invoke(app, ["data", "inspect", str(path), "--skip-invalid"])
    assert result.exit_code == 0, result.output
    assert path.read_text() == text and len((tmp_path / "rejected.rejected.jsonl").read_text().splitlines()) == 3
    result = runner.invoke(app, ["data", "inspect", str(path), "--skip-invalid", "--rejected", str(path)])
    assert result.exit_code == 2 and "is the input file itself" in result.output
    assert path.read_text() == text


def test_jsonl_lines_split_on_newline_only(tmp_path):
    from forgetfilter.data.formats import read_examples

    path = tmp_path / "odd.jsonl"
    texts = ["a\u2028b", "c\u2029d", "e\u0085f", "g\x0bh\x0ci\x1cj"]
    path.write_text("".join(json.dumps({"prompt": t, "completion": t}, ensure_ascii=False) + "\r\n" for t in texts))
    examples = read_examples(path).examples
    assert [ex.response for ex in examples] == texts


def test_inspect_format_override_typo(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"instruction": "a", "output": "b"}\n')
    result = runner.invoke(app, ["data", "inspect", str(path), "--format", "sharegtp"])
    assert result.exit_code == 2 and "did you mean 'sharegpt'" in result.output
