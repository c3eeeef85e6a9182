"""Structured passthrough: values, NaN, row order and feature order survive unchanged."""

import json

import numpy as np
import pandas as pd
import pytest

from mmnar.modalities.structured import run_embed_structured


def test_passthrough_preserves_nan_and_order(tmp_path):
    structured = pd.DataFrame({
        "subject_id": [30, 10, 20],
        "heart_rate_mean": [80.0, np.nan, 95.5],
        "heart_rate_missing": [0, 1, 0],
        "lactate_max": pd.array([2, None, 4], dtype="Int64"),
        "on_vent": [True, False, True],
    })
    source, out = tmp_path / "structured.parquet", tmp_path / "S.parquet"
    structured.to_parquet(source, index=False)

    run_embed_structured(source, out)

    frame = pd.read_parquet(out)
    assert list(frame.columns) == ["subject_id", "emb_0", "emb_1", "emb_2", "emb_3"]
    assert frame["subject_id"].tolist() == [30, 10, 20]
    assert all(frame[f"emb_{i}"].dtype == np.float32 for i in range(4))
    expected = np.array([[80.0, 0, 2, 1], [np.nan, 1, np.nan, 0], [95.5, 0, 4, 1]], dtype=np.float32)
    np.testing.assert_array_equal(frame.drop(columns="subject_id").to_numpy(), expected)
    names = json.loads((tmp_path / "S.features.json").read_text())
    assert names == ["heart_rate_mean", "heart_rate_missing", "lactate_max", "on_vent"]


def test_non_numeric_feature_is_rejected(tmp_path):
    source = tmp_path / "structured.parquet"
    pd.DataFrame({"subject_id": [1], "gender": ["F"]}).to_parquet(source, index=False)
    with pytest.raises(TypeError, match="gender"):
        run_embed_structured(source, tmp_path / "S.parquet")
    assert not (tmp_path / "S.parquet").exists()
