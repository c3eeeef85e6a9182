"""Negative control: with labels permuted across patients, every task's test AUC is near 0.5.

Runs the real stages on a synthetic cohort: generator → shared SQL → structured features → δ →
split → train → predict → rectify → evaluate, for every registered model. The note and image encoders only see text and pixels, never
labels, so random vectors stand in for them here to keep the test fast. A leak anywhere in
splitting, preprocessing, training, the rectifier or the evaluation lifts an AUC off 0.5. The
positive control on the true labels shows the same run can learn.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mmnar.data.tasks import DEFAULT_TASKS
from mmnar.model_input.delta import build_model_input
from mmnar.modalities.structured import run_embed_structured
from mmnar.evaluation.evaluate import evaluate_model
from mmnar.modalities.series import extract_structured_series
from mmnar.models.registry import specs
from mmnar.training.predict import run_predict
from mmnar.data.extract import extract_cohort, extract_cxr, extract_notes, extract_structured
from mmnar.rectifier import run_rectify
from mmnar.data.sources import LocalSource, synthetic_layout
from mmnar.data.split import make_split
from mmnar.synth import generate
from mmnar.training.tuning import run_train

pytestmark = pytest.mark.workflow

SQL = Path(__file__).parents[1] / "rules" / "sql"
TRAINING = {"lr": 1e-3, "batch_size": 64, "max_epochs": 8, "patience": 3, "mixed_precision": False, "device": "cpu"}


def random_embedding(path: Path, subject_ids, dim: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(len(subject_ids), dim)).astype(np.float32),
                         columns=[f"emb_{k}" for k in range(dim)])
    frame.insert(0, "subject_id", np.asarray(subject_ids))
    frame.to_parquet(path, index=False)


@pytest.fixture(scope="module")
def model_input(tmp_path_factory):
    root = tmp_path_factory.mktemp("shuffle")
    generate(root / "synthetic", n_patients=1000, seed=5, mechanism="mnar", direct_effect=1.0, image_size=16)
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
    extract_structured_series(source, SQL / "cohort.sql", SQL / "structured_series.sql", cohort, root / "S_series.npz",
                              "paper", 48, 24)
    paths = {m: {"vector": root / f"{m}.parquet"} for m in "SITR"}
    paths["S"]["sequence"] = root / "S_series.npz"
    build_model_input(cohort, paths, root / "model_input", DEFAULT_TASKS)
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
    for model in specs():
        out = run / model
        run_train(model, model_input, run / "split.parquet", out / "model.pt", out / "history.csv",
                  model_params=None, training=TRAINING, split_seed=0, init_seed=0)
        run_predict([out / "model.pt"], model_input, [run / "split.parquet"], [out / "pred.parquet"], "observed", 0)
        run_rectify(out / "pred.parquet", model_input / "labels.parquet", out / "rect.parquet",
                    out / "rect.json", params={"min_count": 10}, protocol="validation")
        tables.append(evaluate_model([{"model": model, "scenario": "observed", "split_seed": 0, "init_seed": 0,
                                       "split": run / "split.parquet",
                                       "variants": {"raw": out / "pred.parquet", "rectified": out / "rect.parquet"}}],
                                     model_input / "labels.parquet", out / "metrics.csv"))
    metrics = pd.concat(tables)
    return metrics[metrics["metric"] == "auc"]


def test_permuted_labels_give_chance_auc_for_every_task_and_model(model_input):
    labels = pd.read_parquet(model_input / "model_input" / "labels.parquet")
    rng = np.random.default_rng(11)
    shuffled = labels.copy()
    shuffled[list(DEFAULT_TASKS)] = labels[list(DEFAULT_TASKS)].to_numpy()[rng.permutation(len(labels))]
    auc = run_all_models(model_input, shuffled, "shuffled")
    assert len(auc) == len(specs()) * 2 * len(DEFAULT_TASKS)
    # Each AUC within 4 null standard errors of 0.5 (Hanley & McNeil 1982: se² = (n1 + n0 + 1) / (12 n1 n0)),
    # so a reference evaluated on fewer patients gets the wider band its sample size implies.
    prevalence = auc["task"].map(shuffled[list(DEFAULT_TASKS)].mean())
    n1, n0 = auc["n_patients"] * prevalence, auc["n_patients"] * (1 - prevalence)
    band = 4 * np.sqrt((n1 + n0 + 1) / (12 * n1 * n0))
    outside = (auc["value"] - 0.5).abs() > band
    assert not outside.any(), auc[outside].assign(band=band).to_string()
    assert abs(auc["value"].mean() - 0.5) < 0.05, auc.to_string()


def test_true_labels_are_learnable_in_the_same_setup(model_input):
    labels = pd.read_parquet(model_input / "model_input" / "labels.parquet")
    auc = run_all_models(model_input, labels, "true")
    # Random vectors stand in for I, T and R here: only models that read S have anything to learn from. In this
    # budget (8 epochs) the sequence readers learn more slowly than the aggregate readers, so they get a lower bar.
    forms = {name: spec.reads(("S", "I", "T", "R"), spec.resolve()).get("S") for name, spec in specs().items()}
    mortality = auc[(auc["task"] == "mortality_inhosp") & (auc["variant"] == "raw")].set_index("model")["value"]
    bar = {"vector": 0.65, "sequence": 0.55}
    failed = {m: v for m, v in mortality.items() if forms[m] and v <= bar[forms[m]]}
    assert not failed, failed
