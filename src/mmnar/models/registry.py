"""Model registry: one :class:`ModelSpec` per model, naming the module and builder of its code.

Names, display labels, citations, the inputs each model reads and its hyperparameters live here
only; the config schema's ``models`` enum, the table rows and the README's model table are checked
against this registry by tests. Single-modality references are derived from the modality registry,
so a new modality gets one too. The scikit-learn references (``kind`` estimator) follow the
concatenation baseline. What a model's parameters mean is told in its module's docstring.

No model module is imported here: the workflow reads the registry while it is parsed, and a model's
module (torch, scikit-learn) is imported only when its network is built or its recipe made, inside
a job. For the same reason the train and predict jobs do not declare this file as a code input:
each gets its own model's entry (:meth:`ModelSpec.job_entry`) as a rule parameter, so editing one
model's entry, or adding a model, reruns that model's jobs only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mmnar.modalities.registry import names as modality_names
from mmnar.models.spec import (DROPOUT, ESTIMATOR, HIDDEN_DIM, N_HEADS, N_LAYERS, SEQUENCE, STRUCTURED, VECTOR,
                               ModelSpec, Param, Search, all_vectors, one_vector, structured_series,
                               structured_series_and_vectors, structured_vector)

if TYPE_CHECKING:
    from torch import nn

    from mmnar.models.base import InputSpec

# ------------------------------------------------------------------------------- CRL-MMNAR and ablations


def crl_reads(modalities: Sequence[str], params: Mapping[str, Any]) -> dict[str, str]:
    """Every modality as a vector, except S as a series under ``structured_encoder: recurrent``."""
    recurrent = params["structured_encoder"] == "recurrent"
    return {m: SEQUENCE if (recurrent and m == STRUCTURED) else VECTOR for m in modalities}


LOSS_WEIGHT_SEARCH = Search("log", 0.01, 1.0)
"""Where tuning looks for the weight of an auxiliary loss term."""

FUSION_PARAMS = {
    "hidden_dim": HIDDEN_DIM,
    "n_heads": N_HEADS,
    "dropout": DROPOUT,
    "structured_encoder": Param("mlp", {"enum": ["mlp", "recurrent"]},
                                "S as its aggregated vector through an MLP, or as its hourly series through a GRU"),
    "lambda_miss": Param(0.1, {"type": "number", "minimum": 0}, "weight of the delta auto-encoder BCE (L_miss)",
                         LOSS_WEIGHT_SEARCH),
}
"""Parameters shared with the "+MMNAR fusion" ablation."""

CRL_PARAMS = {
    **FUSION_PARAMS,
    "lambda_rec": Param(0.1, {"type": "number", "minimum": 0}, "weight of each modality's masked-reconstruction MSE",
                        LOSS_WEIGHT_SEARCH),
    "lambda_cont": Param(0.1, {"type": "number", "minimum": 0}, "weight of each modality's InfoNCE term",
                         LOSS_WEIGHT_SEARCH),
    "tau_cont": Param(0.1, {"type": "number", "exclusiveMinimum": 0}, "InfoNCE temperature"),
    "mask_rate": Param(0.5, {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
                       "probability that an observed modality is masked (and reconstructed) in a training step"),
}

CRL_MMNAR = ModelSpec(
    name="crl_mmnar",
    label="CRL-MMNAR",
    citation="CRL-MMNAR: causal representation learning under modality missing-not-at-random (docs/method.md)",
    module="mmnar.models.crl_mmnar", builder="build", reads=crl_reads, params=CRL_PARAMS,
)
CRL_MMNAR_OFFSETS = dataclasses.replace(
    CRL_MMNAR, name="crl_mmnar_offsets", label="CRL-MMNAR + in-model pattern offsets", builder="build_with_offsets",
    citation="this project's variant of CRL-MMNAR: per-pattern offsets learned with the heads (docs/method.md)")
MMNAR_FUSION = ModelSpec(
    name="mmnar_fusion",
    label="+ MMNAR fusion",
    citation="CRL-MMNAR ablation without reconstruction (docs/method.md, Table 2)",
    module="mmnar.models.mmnar_fusion", builder="build", reads=crl_reads, params=FUSION_PARAMS,
)
BASIC_CONCAT = ModelSpec(
    name="basic_concat",
    label="Concatenation baseline (zero imputation)",
    citation="Concatenation MLP with zero imputation (CRL-MMNAR paper, Table 2 baseline)",
    module="mmnar.models.basic_concat", builder="build", reads=all_vectors,
    params={"hidden_dim": HIDDEN_DIM, "dropout": DROPOUT},
)

# ------------------------------------------------------------------------------ scikit-learn references

C = Param(1.0, {"type": "number", "exclusiveMinimum": 0},
          "inverse L2 regularisation strength of the logistic regression (scikit-learn's C)", Search("log", 1e-3, 1e2))
N_COMPONENTS = Param(16, {"type": "integer", "minimum": 1},
                     "principal components kept per other modality (fewer if it has fewer dimensions or training patients)")
HGB_PARAMS = {
    "max_iter": Param(100, {"type": "integer", "minimum": 1}, "boosting iterations (trees)"),
    "learning_rate": Param(0.1, {"type": "number", "exclusiveMinimum": 0}, "shrinkage of each tree",
                           Search("log", 0.02, 0.3)),
    "max_leaf_nodes": Param(31, {"type": "integer", "minimum": 2}, "leaves per tree", Search("int", 7, 63)),
    "l2_regularization": Param(0.0, {"type": "number", "minimum": 0}, "L2 penalty on leaf values", Search("float", 0.0, 10.0)),
    "early_stopping": Param(False, {"type": "boolean"},
                            "stop on the log-loss of the run's validation split (10 iterations without improvement)"),
}
LOGREG_CITATION = ("L2-regularised logistic regression (scikit-learn LogisticRegression, Pedregosa et al., JMLR 2011) "
                   "after median imputation and standardisation fitted on the training split")
HGB_CITATION = ("Histogram-based gradient boosting (scikit-learn HistGradientBoostingClassifier, after LightGBM, "
                "Ke et al., NeurIPS 2017), missing values handled natively")


def reference(name: str, label: str, citation: str, learner: str, inputs: str, params: Mapping[str, Param]) -> ModelSpec:
    """A scikit-learn reference: ``learner`` (logreg, hgb) on ``inputs`` (s, s_delta, all), fitted
    with :class:`mmnar.models.sklearn_references.Reference`."""
    return ModelSpec(name=name, label=label, citation=citation, module="mmnar.models.sklearn_references",
                     builder="Reference", reads=all_vectors if inputs == "all" else structured_vector,
                     params=dict(params), kind=ESTIMATOR, options={"learner": learner, "inputs": inputs})


def references(modalities: Sequence[str]) -> tuple[ModelSpec, ...]:
    """The five references; labels name the registered modalities reduced by PCA."""
    others = "/".join(m for m in modalities if m != STRUCTURED)
    all_inputs = f"S + δ + PCA of {others}" if others else "S + δ"
    return (
        reference("logreg_s", "Logistic regression (S)", f"{LOGREG_CITATION}; S vector only.",
                  "logreg", "s", {"C": C}),
        reference("logreg_s_delta", "Logistic regression (S + δ)",
                  f"{LOGREG_CITATION}; S vector and the δ bit of every modality.", "logreg", "s_delta", {"C": C}),
        reference("logreg_all", f"Logistic regression ({all_inputs})",
                  f"{LOGREG_CITATION}; S, δ and a training-fitted PCA of each other modality (0 where missing).",
                  "logreg", "all", {"C": C, "n_components": N_COMPONENTS}),
        reference("hgb_s_delta", "Gradient boosting (S + δ)",
                  f"{HGB_CITATION}; S vector and the δ bit of every modality.", "hgb", "s_delta", HGB_PARAMS),
        reference("hgb_all", f"Gradient boosting ({all_inputs})",
                  f"{HGB_CITATION}; S, δ and a training-fitted PCA of each other modality (NaN where missing).",
                  "hgb", "all", {**HGB_PARAMS, "n_components": N_COMPONENTS}),
    )


# ----------------------------------------------------------------------------------- other deep models


def loss_weight(doc: str) -> Param:
    """A DrFuse loss weight (official default 1)."""
    return Param(1.0, {"type": "number", "minimum": 0}, doc)


DRFUSE = ModelSpec(
    name="drfuse",
    label="DrFuse (Yao et al., AAAI 2024)",
    citation=("Yao W, Yin K, Cheung WK, Liu J, Qin J. DrFuse: Learning Disentangled Representation for Clinical "
              "Multi-Modal Fusion with Missing Modality and Modal Inconsistency. AAAI 2024. "
              "github.com/dorothy-yao/drfuse."),
    module="mmnar.models.drfuse", builder="build", reads=structured_series_and_vectors,
    params={
        "hidden_dim": HIDDEN_DIM,
        "n_heads": N_HEADS,
        "n_layers": dataclasses.replace(N_LAYERS, doc="Transformer layers of each EHR branch (shared, distinct), "
                                                      "after the common one"),
        "dropout": dataclasses.replace(DROPOUT, default=0.3, doc="dropout in the encoders (official EHR dropout: 0.3)"),
        "lambda_jsd": loss_weight("weight of the JSD alignment of the shared representations (official: 1)"),
        "lambda_orth": loss_weight("weight of each modality's shared/distinct |cosine| (official: 1)"),
        "lambda_aux": loss_weight("weight of each auxiliary prediction loss (official: 1)"),
        "lambda_rank": loss_weight("weight of the attention ranking loss (official: 1)"),
        "rank_margin": Param(0.0, {"type": "number", "minimum": 0},
                             "margin of the attention ranking hinge (official: 0, the paper's epsilon)"),
    },
)
MEDFUSE = ModelSpec(
    name="medfuse",
    label="MedFuse (Hayat et al., MLHC 2022)",
    citation=("Hayat N, Geras KJ, Shamout FE. MedFuse: Multi-modal fusion with clinical time-series data "
              "and chest X-ray images. Machine Learning for Healthcare (MLHC) 2022, PMLR 182:479-503."),
    module="mmnar.models.medfuse", builder="build", reads=structured_series_and_vectors,
    params={
        "hidden_dim": HIDDEN_DIM,
        "n_layers": dataclasses.replace(N_LAYERS, default=2, doc="stacked LSTM layers of the EHR (S) encoder; MedFuse uses 2"),
        "dropout": DROPOUT,
        "lambda_unimodal": Param(0.0, {"type": "number", "minimum": 0},
                                 "weight of each modality's own task loss on its token (stand-in for MedFuse's "
                                 "unimodal pre-training); 0 = joint training of the fused loss only"),
    },
)
GRUD = ModelSpec(
    name="grud",
    label="GRU-D (Che et al., 2018)",
    citation=("Che Z, Purushotham S, Cho K, Sontag D, Liu Y. Recurrent neural networks for multivariate time "
              "series with missing values. Scientific Reports 2018;8:6085."),
    module="mmnar.models.grud", builder="build", reads=structured_series,
    params={
        "hidden_dim": dataclasses.replace(HIDDEN_DIM, doc="width of the GRU-D hidden state"),
        "dropout": dataclasses.replace(DROPOUT, default=0.3, doc="dropout on the final hidden state (Che et al.'s code: 0.3)"),
    },
)

CAREBENCH_CITATION = ("Yin K, Xu H, Yao W, Liu C, Chen Z, Cheung YH, Cheung WK, Qin J. When Does Multimodal "
                      "Learning Help in Healthcare? A Benchmark on EHR and Chest X-Ray Fusion (CareBench). "
                      "Preprint, 2025. github.com/jakeykj/CareBench.")
CAREBENCH_DROPOUT = dataclasses.replace(DROPOUT, default=0.2, doc="dropout on the pooled series feature (CareBench: 0.2)")
LSTM = ModelSpec(
    name="lstm",
    label="LSTM (EHR time series)",
    citation=CAREBENCH_CITATION + " LSTM: Hochreiter S, Schmidhuber J. Long short-term memory. Neural Computation 1997.",
    module="mmnar.models.ehr_sequence", builder="build_lstm", reads=structured_series,
    params={"hidden_dim": HIDDEN_DIM, "n_layers": N_LAYERS, "dropout": CAREBENCH_DROPOUT},
)
TRANSFORMER = ModelSpec(
    name="transformer",
    label="Transformer (EHR time series)",
    citation=CAREBENCH_CITATION + " Transformer: Vaswani A et al. Attention is all you need. NeurIPS 2017.",
    module="mmnar.models.ehr_sequence", builder="build_transformer", reads=structured_series,
    params={"hidden_dim": HIDDEN_DIM, "n_heads": N_HEADS, "n_layers": N_LAYERS, "dropout": CAREBENCH_DROPOUT},
)
LATE_FUSION = ModelSpec(
    name="late_fusion",
    label="Late fusion (mean of per-modality predictors)",
    citation="Decision-level (late) fusion baseline: mean of per-modality predicted probabilities.",
    module="mmnar.models.late_fusion", builder="build", reads=all_vectors,
    params={
        "hidden_dim": dataclasses.replace(HIDDEN_DIM, doc="hidden width of each per-modality predictor MLP"),
        "dropout": DROPOUT,
        "lambda_unimodal": Param(1.0, {"type": "number", "minimum": 0},
                                 "weight of each per-modality predictor's own task loss on the patients with that modality"),
    },
)


def single_modality_reference(modality: str) -> ModelSpec:
    """The ``<m>_only`` reference for ``modality``."""
    return ModelSpec(
        name=f"{modality.lower()}_only",
        label=f"{modality} only (patients with {modality})",
        citation=f"Single-modality reference: MLP on {modality} alone, restricted to the patients with {modality}.",
        module="mmnar.models.single_modality", builder="build", reads=one_vector(modality),
        params={"hidden_dim": dataclasses.replace(HIDDEN_DIM, doc="hidden width of the MLP"), "dropout": DROPOUT},
        options={"modality": modality},
        restrict_to=modality,
    )


# ------------------------------------------------------------------------------------------- lookups


def specs() -> dict[str, ModelSpec]:
    """Every registered model by name: the CRL-MMNAR ablation chain, the scikit-learn references, the
    other deep models, single-modality references last (in modality order)."""
    modalities = modality_names()
    all_specs = [CRL_MMNAR, MMNAR_FUSION, BASIC_CONCAT, *references(modalities), CRL_MMNAR_OFFSETS, DRFUSE, MEDFUSE,
                 GRUD, LSTM, TRANSFORMER, LATE_FUSION, *(single_modality_reference(m) for m in modalities)]
    names = [spec.name for spec in all_specs]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate model names in the registry: {names}")
    return {spec.name: spec for spec in all_specs}


def get(name: str) -> ModelSpec:
    registered = specs()
    if name not in registered:
        raise KeyError(f"unknown model {name!r}; registered: {sorted(registered)}")
    return registered[name]


def build_model(name: str, input_spec: InputSpec, params: Mapping[str, Any] | None = None) -> nn.Module:
    """The network of torch model ``name`` under ``params`` (defaults filled in)."""
    spec = get(name)
    return spec.build(input_spec, spec.resolve(params))
