import json
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tests.trainer.conftest import micro_config, write_run
from trainer.scaling import ScalingConfig, fit_power_law, scaling


def test_fit_recovers_a_known_power_law():
    C = np.geomspace(1e9, 1e12, 6)
    L = 40.0 * C ** -0.12 + 1.7
    fit = fit_power_law(C, L, grid=4000)
    assert fit["r2"] > 0.99999
    assert fit["b"] == pytest.approx(-0.12, rel=0.02) and fit["c"] == pytest.approx(1.7, abs=0.02)
    assert max(abs(r) for r in fit["residuals"]) < 1e-3


def test_fit_of_noisy_points_reports_a_lower_r2():
    C = np.geomspace(1e9, 1e12, 5)
    L = 40.0 * C ** -0.12 + 1.7 + np.array([0.3, -0.3, 0.3, -0.3, 0.3])
    assert fit_power_law(C, L)["r2"] < 0.99


def _models():
    return (micro_config(name="m1", n_layer=1, d_model=8, n_head=1, d_ffn=32, batch_size=2),
            micro_config(name="m2", n_layer=1, d_model=16, n_head=2, d_ffn=64, batch_size=2),
            micro_config(name="m3", n_layer=2, d_model=16, n_head=2, d_ffn=64, batch_size=2),
            micro_config(name="m4", n_layer=2, d_model=24, n_head=2, d_ffn=96, batch_size=2))


def test_scaling_trains_nested_prefixes_and_writes_the_fit(tmp_path):
    run = write_run(tmp_path / "run", rows_per_shard=(60, 40), vocab_size=256)
    result = scaling(ScalingConfig(data=run, out=str(tmp_path / "out"), models=_models(), tokens_per_param=0.1,
                                   val_rows=8, quiet=True))
    points = result["points"]
    assert [p["model"] for p in points] == ["m1", "m2", "m3", "m4"]
    assert [p["rows"] for p in points] == sorted(p["rows"] for p in points)  # nested: each a prefix
    assert result["nested_prefix_rows"] == points[-1]["rows"] and result["validation"]["first_row"] == points[-1]["rows"]
    for p in points:
        assert p["compute"] == 6 * p["non_embedding_parameters"] * p["tokens"]
        assert p["tokens"] <= 0.1 * p["non_embedding_parameters"] < p["tokens"] + 2 * 16
    with open(tmp_path / "out" / "scaling.json") as f:
        assert json.load(f)["fit"]["r2"] == result["fit"]["r2"]
    assert os.path.getsize(tmp_path / "out" / "scaling.png") > 1000
    with pytest.raises(ValueError, match="is not empty"):
        scaling(ScalingConfig(data=run, out=str(tmp_path / "out"), models=_models(), tokens_per_param=0.1,
                              val_rows=8, quiet=True))


def test_scaling_refuses_too_few_models_too_narrow_a_span_and_no_held_out_rows(tmp_path):
    run = write_run(tmp_path / "run", rows_per_shard=(40,), vocab_size=256)
    with pytest.raises(ValueError, match="at least 4 models"):
        ScalingConfig(data=run, out="o", models=_models()[:3])
    narrow = tuple(micro_config(name=f"n{k}", batch_size=2) for k in range(4))
    with pytest.raises(ValueError, match="span 1.0x in parameters"):
        scaling(ScalingConfig(data=run, out=str(tmp_path / "o"), models=narrow, quiet=True))
    with pytest.raises(ValueError, match="model m4 needs 90 rows .*the run has 40"):
        scaling(ScalingConfig(data=run, out=str(tmp_path / "o"), models=_models(), tokens_per_param=0.1, quiet=True))
    run = write_run(tmp_path / "run100", rows_per_shard=(100,), vocab_size=256)
    with pytest.raises(ValueError, match="leaving fewer than 32 held-out rows: pass --val"):
        scaling(ScalingConfig(data=run, out=str(tmp_path / "o"), models=_models(), tokens_per_param=0.1, quiet=True))
