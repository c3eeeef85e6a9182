"""Simple scikit-learn references: L2 logistic regression and gradient boosting on S, δ and a PCA of I/T/R.

The yardsticks every reader of Table 1 expects next to the deep models, through the same splits,
predict stage and evaluation:

- ``logreg_s``: L2-regularised logistic regression (scikit-learn ``LogisticRegression``, lbfgs;
  Pedregosa et al., JMLR 2011) on the aggregated structured vector S;
- ``logreg_s_delta``: the same on S plus the δ bit of every registered modality (observation
  indicators as features: the simplest missingness-aware model);
- ``logreg_all``: S + δ + each other vector modality (I, T, R, and any modality registered later)
  reduced to ``n_components`` principal components, fitted on the training patients who have it;
- ``hgb_s_delta``, ``hgb_all``: scikit-learn's ``HistGradientBoostingClassifier`` (histogram
  gradient boosting after LightGBM, Ke et al., NeurIPS 2017) on the inputs of the two logreg variants.

Inputs (:meth:`Reference.design`): S as stored (NaN where a feature was not measured, all NaN for a
patient without S); δ as 0/1; a PCA block per other modality: the scores of the centred vector
where the modality is observed, and 0 (logistic regression: the training mean of the patients who
have it) or NaN (boosting handles missing values natively) where it is missing. The δ bits tell the
model which case it is in, so a missing modality's zeros are never taken for a measurement by the
``*_delta``/``*_all`` models. A modality removed by a predict scenario (``drop_<m>``) is treated
exactly like one never observed: δ_m = 0 and its values are replaced as above.

Logistic regression is a scikit-learn ``Pipeline``: median imputation, standardisation, then
``LogisticRegression(C)`` (L2, ``max_iter`` 5000 so lbfgs converges on a few hundred features),
all fitted on one task's training rows. Gradient boosting uses scikit-learn's defaults
(``max_iter``, ``learning_rate``, ``max_leaf_nodes``, ``l2_regularization``), and no early stopping
by default; with ``early_stopping: true`` it stops on the log-loss of the run's own validation split
(the split file's ``val`` patients, never its internal random hold-out and never test; sklearn's
rule: 10 iterations without improvement, the trees built until then are kept). ``random_state`` is
the run's initialisation seed. ``C`` and the boosting parameters are searched by the train stage's tuning
(:mod:`mmnar.training.tuning`); the defaults are its first trial.

Everything fitted is kept as plain arrays (imputer medians, scaler means and scales, coefficients,
PCA means and components; for boosting every tree's nodes: feature, threshold, the side missing
values go to, children, leaf values, and the baseline), so the train checkpoint stays readable with
``torch.load(weights_only=True)`` and prediction is a few lines of numpy that reproduce scikit-learn's
``predict_proba`` (``tests/test_model_sklearn_references.py`` pins both to scikit-learn's own).
scikit-learn is imported only to fit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mmnar.model_input.inputs import RawInputs
from mmnar.models.spec import STRUCTURED

LOGREG, HGB = "logreg", "hgb"
S_ONLY, S_DELTA, ALL = "s", "s_delta", "all"
"""The learners and inputs a :class:`Reference` combines (the registry spells its five references with them)."""
LOGREG_MAX_ITER = 5000
"""lbfgs iterations allowed; convergence, not regularisation (that is ``C``)."""


@dataclass(frozen=True)
class Reference:
    """An estimator recipe: which learner (``logreg``/``hgb``) on which inputs (``s``/``s_delta``/``all``).

    Fitting: :meth:`fit_design` (PCA per other modality, on the given training rows), :meth:`design`
    (the feature matrix of every patient), :meth:`fit_classifier` (one binary classifier per task),
    :meth:`decision_function` (its logit from the fitted arrays).
    """

    learner: str
    inputs: str

    def __post_init__(self):
        if self.learner not in (LOGREG, HGB) or self.inputs not in (S_ONLY, S_DELTA, ALL):
            raise ValueError(f"no reference {self.learner!r} on {self.inputs!r}: learner is one of {LOGREG, HGB}, "
                             f"inputs one of {S_ONLY, S_DELTA, ALL}")

    @property
    def missing_value(self) -> float:
        """What a missing modality's PCA block holds: 0 for logistic regression, NaN for boosting."""
        return np.nan if self.learner == HGB else 0.0

    def pca_modalities(self, modalities: Sequence[str]) -> list[str]:
        return [m for m in modalities if m != STRUCTURED] if self.inputs == ALL else []

    # ----------------------------------------------------------------------------------------- inputs

    def fit_design(self, raw: RawInputs, fit_rows: np.ndarray, params: Mapping[str, Any], seed: int
                   ) -> dict[str, dict[str, np.ndarray]]:
        """PCA (``mean``, ``components``) per other modality, from the ``fit_rows`` patients who have it.

        ``min(n_components, dimension, patients)`` components; none when no such patient exists
        (e.g. no CXR folder configured), so that modality contributes only its δ bit."""
        state = {}
        for m in self.pca_modalities(raw.modalities):
            x = raw.vectors[m].astype(np.float64)
            rows = fit_rows & (raw.delta[:, raw.modalities.index(m)] == 1)
            k = min(int(params["n_components"]), x.shape[1], int(rows.sum()))
            if k == 0:
                state[f"pca:{m}"] = {"mean": np.zeros(x.shape[1]), "components": np.zeros((0, x.shape[1]))}
                continue
            from sklearn.decomposition import PCA

            fit = x[rows]
            column_mean = np.nanmean(np.where(np.isfinite(fit), fit, np.nan), axis=0)
            fit = np.where(np.isfinite(fit), fit, np.nan_to_num(column_mean))  # a non-finite entry is mean-imputed
            pca = PCA(n_components=k, svd_solver="full", random_state=seed).fit(fit)
            state[f"pca:{m}"] = {"mean": pca.mean_.astype(np.float64), "components": pca.components_.astype(np.float64)}
        return state

    def design(self, raw: RawInputs, design_state: Mapping[str, Mapping[str, np.ndarray]]) -> np.ndarray:
        """``(N, p)`` float64 features of every patient: S (NaN where unmeasured or S missing), then
        δ (``s_delta``, ``all``), then each other modality's PCA scores (missing: :attr:`missing_value`)."""
        observed = {m: raw.delta[:, k] == 1 for k, m in enumerate(raw.modalities)}
        s = raw.vectors[STRUCTURED].astype(np.float64)  # astype copies
        s[~observed[STRUCTURED]] = np.nan
        blocks = [s]
        if self.inputs in (S_DELTA, ALL):
            blocks.append(raw.delta.astype(np.float64))
        for m in self.pca_modalities(raw.modalities):
            pca = design_state[f"pca:{m}"]
            centred = raw.vectors[m].astype(np.float64) - pca["mean"]
            centred[~np.isfinite(centred)] = 0.0
            scores = centred @ pca["components"].T
            scores[~observed[m]] = self.missing_value
            blocks.append(scores)
        return np.concatenate(blocks, axis=1)

    def feature_names(self, raw: RawInputs, design_state: Mapping[str, Mapping[str, np.ndarray]]) -> list[str]:
        """A name per column of :meth:`design` (``S:<k>``, ``delta:<m>``, ``<m>:pc<k>``)."""
        names = [f"{STRUCTURED}:{k}" for k in range(raw.vectors[STRUCTURED].shape[1])]
        if self.inputs in (S_DELTA, ALL):
            names += [f"delta:{m}" for m in raw.modalities]
        for m in self.pca_modalities(raw.modalities):
            names += [f"{m}:pc{k}" for k in range(len(design_state[f"pca:{m}"]["components"]))]
        return names

    # ------------------------------------------------------------------------------------- classifier

    def fit_classifier(self, x: np.ndarray, y: np.ndarray, params: Mapping[str, Any], seed: int,
                       x_val: np.ndarray | None = None, y_val: np.ndarray | None = None
                       ) -> tuple[dict[str, np.ndarray], Any]:
        """One binary classifier on rows ``x`` with 0/1 labels ``y`` (both classes present): its
        arrays for :meth:`decision_function` and the fitted scikit-learn object (not saved).
        ``x_val``/``y_val``: the validation rows boosting stops on when ``early_stopping`` is set."""
        y = np.asarray(y).astype(np.int64)
        if self.learner == LOGREG:
            from sklearn.impute import SimpleImputer
            from sklearn.linear_model import LogisticRegression
            from sklearn.pipeline import Pipeline
            from sklearn.preprocessing import StandardScaler

            pipeline = Pipeline([
                ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                ("scale", StandardScaler()),
                ("logreg", LogisticRegression(C=float(params["C"]), max_iter=LOGREG_MAX_ITER, random_state=seed)),
            ]).fit(x, y)
            impute, scale, logreg = (pipeline.named_steps[k] for k in ("impute", "scale", "logreg"))
            state = {"median": impute.statistics_.astype(np.float64), "mean": scale.mean_.astype(np.float64),
                     "scale": scale.scale_.astype(np.float64), "coef": logreg.coef_[0].astype(np.float64),
                     "intercept": logreg.intercept_.astype(np.float64), "n_iter": np.asarray(logreg.n_iter_[:1])}
            return state, pipeline

        from sklearn.ensemble import HistGradientBoostingClassifier

        early = bool(params["early_stopping"]) and x_val is not None and len(x_val) > 0
        model = HistGradientBoostingClassifier(
            max_iter=int(params["max_iter"]), learning_rate=float(params["learning_rate"]),
            max_leaf_nodes=int(params["max_leaf_nodes"]), l2_regularization=float(params["l2_regularization"]),
            early_stopping=early, random_state=seed)
        # a feature no training patient has (S removed by a keep_ scenario) cannot be binned by scikit-learn;
        # as a constant it is never split on, so the trees and their predictions are those of the other features
        empty = np.isnan(np.asarray(x, dtype=np.float64)).all(axis=0)
        if empty.any():
            x = np.where(empty, 0.0, x)
            x_val = None if x_val is None else np.where(empty, 0.0, x_val)
        if early:
            model.fit(x, y, X_val=x_val, y_val=np.asarray(y_val).astype(np.int64))
        else:
            model.fit(x, y)
        return export_trees(model), model

    def constant_classifier(self, n_features: int, p: float) -> dict[str, np.ndarray]:
        """The arrays of a classifier that predicts ``p`` for everyone (a task whose training rows
        hold one class or none), in the same layout as a fitted one."""
        logit = float(np.log(p / (1 - p)))
        if self.learner == LOGREG:
            return {"median": np.zeros(n_features), "mean": np.zeros(n_features), "scale": np.ones(n_features),
                    "coef": np.zeros(n_features), "intercept": np.array([logit]), "n_iter": np.array([0])}
        return {**_empty_trees(), "baseline": np.array([logit])}

    def decision_function(self, state: Mapping[str, np.ndarray], x: np.ndarray) -> np.ndarray:
        """The classifier's logit per row of ``x`` (scikit-learn's ``decision_function``)."""
        x = np.asarray(x, dtype=np.float64)
        if self.learner == LOGREG:
            x = np.where(np.isnan(x), state["median"], x)
            return ((x - state["mean"]) / state["scale"]) @ state["coef"] + state["intercept"][0]
        return predict_trees(state, x)


def export_trees(model: Any) -> dict[str, np.ndarray]:
    """A fitted binary ``HistGradientBoostingClassifier`` as arrays: every tree's nodes, concatenated
    (``tree_start[t]`` is tree t's first node; children are indices within the tree), and the baseline."""
    if model.n_trees_per_iteration_ != 1:
        raise ValueError("only a binary HistGradientBoostingClassifier can be exported")
    trees = [predictors[0].nodes for predictors in model._predictors]
    if any(nodes["is_categorical"].any() for nodes in trees):
        raise ValueError("categorical splits are not exported (the references use numeric features only)")
    if not trees:
        return {**_empty_trees(), "baseline": model._baseline_prediction.reshape(-1).astype(np.float64)}
    nodes = np.concatenate(trees)
    return {
        "tree_start": np.cumsum([0] + [len(t) for t in trees]).astype(np.int64),
        "feature": nodes["feature_idx"].astype(np.int64),
        "threshold": nodes["num_threshold"].astype(np.float64),
        "missing_left": nodes["missing_go_to_left"].astype(bool),
        "left": nodes["left"].astype(np.int64),
        "right": nodes["right"].astype(np.int64),
        "is_leaf": nodes["is_leaf"].astype(bool),
        "value": nodes["value"].astype(np.float64),
        "baseline": model._baseline_prediction.reshape(-1).astype(np.float64),
    }


def _empty_trees() -> dict[str, np.ndarray]:
    return {"tree_start": np.zeros(1, dtype=np.int64), "feature": np.zeros(0, dtype=np.int64),
            "threshold": np.zeros(0), "missing_left": np.zeros(0, dtype=bool), "left": np.zeros(0, dtype=np.int64),
            "right": np.zeros(0, dtype=np.int64), "is_leaf": np.zeros(0, dtype=bool), "value": np.zeros(0)}


def predict_trees(state: Mapping[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """Baseline plus each tree's leaf value, in tree order, as scikit-learn sums them: a NaN goes
    to the side the tree learnt for missing values, otherwise ``x <= threshold`` goes left."""
    n = len(x)
    raw = np.full(n, float(state["baseline"][0]))
    rows = np.arange(n)
    start = state["tree_start"]
    for t in range(len(start) - 1):
        offset, node = int(start[t]), np.zeros(n, dtype=np.int64)
        while True:
            index = offset + node
            leaf = state["is_leaf"][index]
            if leaf.all():
                break
            value = x[rows, state["feature"][index]]
            left = np.where(np.isnan(value), state["missing_left"][index], value <= state["threshold"][index])
            node = np.where(leaf, node, np.where(left, state["left"][index], state["right"][index]))
        raw += state["value"][offset + node]
    return raw

