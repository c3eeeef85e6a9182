"""Negative control: with labels permuted across patients, every task's test AUC is near 0.5.

Runs the real stages on a synthetic cohort: generator → shared SQL → structured features → δ →
split → train → rectify → evaluate. The note and image encoders only see text and pixels, never
labels, so random vectors stand in for them here to keep the test fast. A leak anywhere in
splitting, preprocessing, training, the rectifier or the evaluation lifts an AUC off 0.5. The
positive control on the true labels shows the same run can learn.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mmnar.data.tasks import TASK_NAMES
from mmnar.model_input.delta import build_model_input
from mmnar.modalities.structured import run_embed_structured
from mmnar.evaluation.evaluate import evaluate_run
from mmnar.data.extract import extract_cohort, extract_cxr, extract_notes, extract_structured
from mmnar.rectifier import run_rectify
from mmnar.data.sources import LocalSource, synthetic_layout
from mmnar.data.split import make_split
from mmnar.synth import generate
from mmnar.training.trainer import run_train

SQL = Path(__file__).parents[1] / "rules" / "sql"
PARAMS = {"hidden_dim": 32, "n_heads": 2, "lr": 1e-3, "batch_size": 64, "max_epochs": 8, "patience": 3,
          "mixed_precision": False, "device": "cpu"}


def random_embedding(path: Path, subject_ids, dim: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(len(subject_ids), dim)).astype(np.float32),
                         columns=[f"emb_{k}" for k in range(dim)])
    frame.insert(0, "subject_id", np.asarray(subject_ids))
    frame.to_parquet(path, index=False)


@pytest.fixture(scope="module")
def model_input(tmp_path_factory):
    root = tmp_path_factory.mktemp("shuffle")
    generate(root / "synthetic", n_patients=1500, seed=5, mechanism="mnar", direct_effect=1.0, image_size=16)
    folders = synthetic_layout(root / "synthetic")
    source = LocalSource(folders["mimiciv"], folders["note"], folders["cxr"])
    cohort = root / "cohort.parquet"
    extract_cohort(source, SQL / "cohort.sql", cohort, root / "q.json", "paper", 48, None, 0)
    extract_structured(source, SQL / "cohort.sql", SQL / "structured.sql", cohort, root / "structured.parquet", root / "q.json", "paper", 48)
    run_embed_structured(root / "structured.parquet", root / "S.parquet")
    ids = {}
    for kind in ("discharge", "radiology"):
        extract_notes(source, SQL / "cohort.sql", SQL / f"notes_{kind}.sql", cohort, root / f"{kind}.parquet", root / "q.json", kind, "paper", 48, True)
        ids[kind] = pd.read_parquet(root / f"{kind}.parquet")["subject_id"].unique()
    extract_cxr(source, SQL / "cxr.sql", cohort, root / "cxr.parquet", root / "q.json")
    random_embedding(root / "I.parquet", pd.read_parquet(root / "cxr.parquet")["subject_id"], 32, 1)
    random_embedding(root / "T.parquet", ids["discharge"], 32, 2)
    random_embedding(root / "R.parquet", ids["radiology"], 32, 3)
    build_model_input(cohort, {m: root / f"{m}.parquet" for m in "SITR"}, root / "model_input")
    return root


def run_all_models(root: Path, labels: pd.DataFrame, name: str) -> pd.DataFrame:
    run = root / name
    run.mkdir()
    model_input = run / "model_input"
    model_input.mkdir()
    for path in (root / "model_input").glob("*.npy"):
        (model_input / path.name).symlink_to(path)
    labels.to_parquet(model_input / "labels.parquet", index=False)
    make_split(labels, seed=0, val_fraction=0.2, test_fraction=0.4).to_parquet(run / "split.parquet", index=False)
    tables = []
    for model in ("basic_concat", "mmnar_fusion", "crl_mmnar"):
        out = run / model
        run_train(model, model_input, run / "split.parquet", out / "pred.parquet", out / "model.pt",
                  out / "history.csv", params=PARAMS, seed=0)
        run_rectify(out / "pred.parquet", model_input / "labels.parquet", out / "rect.parquet",
                    out / "rect.json", params={"min_count": 10}, protocol="validation")
        evaluate_run({"raw": out / "pred.parquet", "rectified": out / "rect.parquet"},
                     model_input / "labels.parquet", run / "split.parquet", model, 0, out / "metrics.csv")
        tables.append(pd.read_csv(out / "metrics.csv"))
    metrics = pd.concat(tables)
    return metrics[metrics["metric"] == "auc"]


def test_permuted_labels_give_chance_auc_for_every_task_and_model(model_input):
    labels = pd.read_parquet(model_input / "model_input" / "labels.parquet")
    rng = np.random.default_rng(11)
    shuffled = labels.copy()
    shuffled[list(TASK_NAMES)] = labels[list(TASK_NAMES)].to_numpy()[rng.permutation(len(labels))]
    auc = run_all_models(model_input, shuffled, "shuffled")
    assert len(auc) == 3 * 2 * len(TASK_NAMES)
    assert auc["value"].between(0.35, 0.65).all(), auc.to_string()
    assert abs(auc["value"].mean() - 0.5) < 0.05, auc.to_string()


def test_true_labels_are_learnable_in_the_same_setup(model_input):
    labels = pd.read_parquet(model_input / "model_input" / "labels.parquet")
    auc = run_all_models(model_input, labels, "true")
    mortality = auc[auc["task"] == "mortality_inhosp"]["value"]
    assert (mortality > 0.65).all(), auc.to_string()
