"""Imputation and scaling of a time-series modality, fitted on training rows only (CareBench's EHR input).

``values`` arrive ``(N, T, F)`` with NaN in every bin without a measurement (and everywhere for a
patient without the modality). Preprocessing: forward fill along time; the training-split median
before the first measurement; robust scaling ``(x − median) / IQR`` with the training-split median
and inter-quartile range of the measured values; the mask of measured bins; and GRU-D's time since
the last measurement (Che et al. 2018: δ_0 = 0, δ_t = 1 + δ_{t−1} if bin t−1 was unmeasured, else 1).
"""

from __future__ import annotations

import numpy as np


def fit_series(values: np.ndarray, fit_rows: np.ndarray) -> dict[str, np.ndarray]:
    """Per-feature ``median``, ``scale`` (IQR, 1 where it is 0 or undefined) and the measured values'
    ``mean`` in scaled units (what GRU-D decays towards), from the ``fit_rows`` patients only."""
    n_features = values.shape[2]
    measured = values[fit_rows].reshape(-1, n_features).astype(np.float64)
    median, scale, mean = np.zeros(n_features), np.ones(n_features), np.zeros(n_features)
    for f in range(n_features):
        column = measured[:, f][np.isfinite(measured[:, f])]
        if not len(column):
            continue
        q25, median[f], q75 = np.percentile(column, [25, 50, 75])
        if q75 - q25 > 1e-8:
            scale[f] = q75 - q25
        mean[f] = ((column - median[f]) / scale[f]).mean()
    return {"median": median.astype(np.float32), "scale": scale.astype(np.float32), "mean": mean.astype(np.float32)}


def forward_fill(values: np.ndarray) -> np.ndarray:
    """Carry each feature's last measurement forward in time; NaN before the first one."""
    measured = np.isfinite(values)
    steps = np.arange(values.shape[1])[None, :, None]
    last = np.maximum.accumulate(np.where(measured, steps, -1), axis=1)
    filled = np.take_along_axis(values, np.maximum(last, 0), axis=1)
    return np.where(last >= 0, filled, np.nan)


def time_since_last(mask: np.ndarray) -> np.ndarray:
    """Bins since the previous measurement (GRU-D's δ_t), counted from the horizon start if none."""
    delta_t = np.zeros(mask.shape, dtype=np.float32)
    for t in range(1, mask.shape[1]):
        delta_t[:, t] = 1.0 + np.where(mask[:, t - 1] > 0, 0.0, delta_t[:, t - 1])
    return delta_t


def apply_series(values: np.ndarray, stats: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``values`` (imputed, scaled), ``mask`` and ``delta_t``, each ``(N, T, F)`` float32."""
    mask = np.isfinite(values).astype(np.float32)
    filled = forward_fill(values.astype(np.float32))
    filled = np.where(np.isfinite(filled), filled, stats["median"])
    scaled = ((filled - stats["median"]) / stats["scale"]).astype(np.float32)
    return {"values": scaled, "mask": mask, "delta_t": time_since_last(mask)}
