"""One brief run of the real default model (SmolLM2-135M-Instruct) through the whole filter."""

import math

import pytest

from forgetfilter.api import find_unsafe_examples
from forgetfilter.data.mix import build_mix
from forgetfilter.training import SessionSettings

pytestmark = pytest.mark.real_model


def test_default_model_filter_runs_briefly_on_real_bias_data(data_dir, tmp_path):
    mix = build_mix("bias", n=24, unsafe_ratio=0.5, seed=0, data_dir=data_dir, n_safe_finetune=8, n_eval=4)
    brief = SessionSettings(max_steps=2, batch_size=4, grad_accum=1)
    result = find_unsafe_examples(
        mix.d_noisy,
        mix.d_safe,
        out_dir=tmp_path / "run",
        s1=brief,
        s1_plus=brief,
        signals=("nll", "token_accuracy"),
        fraction=0.5,
    )
    assert len(result.scores) == 24 and result.mask.sum() == 12
    assert all(math.isfinite(x) for x in result.scores)
    assert 0 < result.stages["s1"]["final_loss"] < 20
    assert (tmp_path / "run" / "kept.jsonl").read_text().count("\n") == 12
