"""Test AUC of a plain logistic regression on S, with and without each feature group.

How much of the structured signal does each group carry? Run after a workflow run, from the
working directory that holds ``data/`` (the default run, or any ``--configfile`` run):

    .venv/bin/snakemake --cores 2 data/embeddings/S.parquet data/splits/seed0.parquet
    .venv/bin/python benchmarks/structured_groups.py --out benchmarks/structured_groups.csv

For every split seed found under ``data/splits/`` and every task, an L2 logistic regression
(median imputation and standardisation fitted on the training split only; the inverse
regularisation C chosen from ``C_GRID`` by validation AUC, since a fixed C = 1 overfits two hundred
features on a thousand patients) is fitted on the training split and scored on the test split, for: all groups of the run;
the base groups (demographics, vitals and labs); base + each other group; all minus each group.
The CSV holds one row per feature set × task × split; the script prints the mean over splits.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mmnar.data.tasks import TASK_NAMES

BASE = ("demographics", "vitals_labs")
C_GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)


def feature_sets(groups: list[str]) -> dict[str, list[str]]:
    """Name → groups: all, base, base + g, all − g."""
    base = [g for g in groups if g in BASE]
    sets = {"all groups": groups, "base (demographics + vitals_labs)": base}
    sets |= {f"base + {g}": base + [g] for g in groups if g not in BASE}
    sets |= {f"all - {g}": [h for h in groups if h != g] for g in groups}
    return sets


def test_auc(features: np.ndarray, labels: np.ndarray, split: np.ndarray) -> tuple[float, float]:
    """(test AUC, chosen C): C by validation AUC; test labels are read only for the final score."""
    known = ~np.isnan(labels)
    train, val, test = (known & (split == part) for part in ("train", "val", "test"))
    if any(len(np.unique(labels[rows])) < 2 for rows in (train, val, test)):
        return float("nan"), float("nan")
    fitted = {}
    for c in C_GRID:
        model = make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler(),
                              LogisticRegression(C=c, max_iter=5000))
        fitted[c] = model.fit(features[train], labels[train])
    best = max(C_GRID, key=lambda c: roc_auc_score(labels[val], fitted[c].predict_proba(features[val])[:, 1]))
    return float(roc_auc_score(labels[test], fitted[best].predict_proba(features[test])[:, 1])), best


def run(workdir: Path) -> pd.DataFrame:
    embedding = pd.read_parquet(workdir / "data/embeddings/S.parquet")
    names = json.loads((workdir / "data/embeddings/S.features.json").read_text())
    by_group = json.loads((workdir / "data/embeddings/S.feature_groups.json").read_text())
    labels = pd.read_parquet(workdir / "data/model_input/labels.parquet")
    values = embedding.set_index("subject_id").reindex(labels["subject_id"]).to_numpy(dtype=float)
    column = {name: i for i, name in enumerate(names)}
    rows = []
    for split_path in sorted((workdir / "data/splits").glob("seed*.parquet")):
        split = pd.read_parquet(split_path).set_index("subject_id")["split"].reindex(labels["subject_id"]).to_numpy()
        for set_name, groups in feature_sets(list(by_group)).items():
            columns = [column[n] for g in groups for n in by_group[g]]
            for task in TASK_NAMES:
                auc, c = test_auc(values[:, columns], labels[task].to_numpy(dtype=float), split)
                rows.append({"feature_set": set_name, "n_features": len(columns), "task": task,
                             "split": split_path.stem, "n_test": int(((split == "test") & labels[task].notna()).sum()),
                             "C": c, "test_auc": auc})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path("."))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/structured_groups.csv"))
    args = parser.parse_args()
    table = run(args.workdir)
    table.to_csv(args.out, index=False)
    summary = table.groupby(["feature_set", "task"], sort=False)["test_auc"].agg(["mean", "std"]).unstack("task")
    print(summary.round(3).to_string())


if __name__ == "__main__":
    main()
