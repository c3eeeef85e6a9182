"""Does the per-pattern rectifier do harm when there is nothing to correct? (project issue 9)

The model's predictions are the TRUE outcome probabilities, so in the ``no_bias`` setting every
true per-pattern bias tau is 0 and any correction can only add noise; in ``bias`` one pattern's
true outcome rate is shifted by ``--shift`` (the largest pattern, rate p + shift), a real bias a
rectifier should remove. Each draw simulates a fit cohort (the validation split) and an
independent evaluation cohort (the test split) over 8 observation patterns of unequal size (the
2^3 I/T/R patterns), fits ``PatternRectifier`` with each estimator (defaults otherwise: min_count
10, 2 folds, the default kappa grid for ``paper``) on the fit cohort and scores the evaluation
cohort before and after rectification. Two sizes by default: the default workflow run's
validation/test split (2,000 synthetic patients: 300 / 400) and a larger one (2,000 / 2,000).

    .venv/bin/python benchmarks/rectifier_no_harm.py --draws 200 --out benchmarks/rectifier_no_harm.csv

The CSV holds one row per size x setting x estimator x draw; the script prints, per size, setting
and estimator, the mean AUC change, the mean Brier change, the share of draws whose Brier score got
worse and the mean number of patterns corrected.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.metrics import brier_score_loss, roc_auc_score

from mmnar.rectifier import ESTIMATORS, PatternRectifier

PATTERN_SHARES = np.array([0.30, 0.20, 0.15, 0.12, 0.09, 0.07, 0.04, 0.03])  # pattern 0 is the largest


def cohort(rng: np.random.Generator, n: int, shift: float, base_logit: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels y, predictions p (the true probabilities without the shift) and pattern ids."""
    pattern = rng.choice(len(PATTERN_SHARES), n, p=PATTERN_SHARES)
    p = expit(rng.normal(base_logit, 1.0, n))
    y = (rng.random(n) < np.clip(p + shift * (pattern == 0), 0.0, 1.0)).astype(float)
    return y, p, pattern


def run(draws: int, sizes: list[tuple[int, int]], shift: float, base_logit: float) -> pd.DataFrame:
    rows = []
    for n_fit, n_eval in sizes:
        for setting, setting_shift in (("no_bias", 0.0), ("bias", shift)):
            for draw in range(draws):
                rng = np.random.default_rng([n_fit, n_eval, int(setting_shift > 0), draw])
                y_fit, p_fit, g_fit = cohort(rng, n_fit, setting_shift, base_logit)
                y_eval, p_eval, g_eval = cohort(rng, n_eval, setting_shift, base_logit)
                auc, brier = roc_auc_score(y_eval, p_eval), brier_score_loss(y_eval, p_eval)
                for estimator in ESTIMATORS:
                    rectifier = PatternRectifier(seed=draw, estimator=estimator).fit(y_fit, p_fit, g_fit)
                    rectified = rectifier.transform(p_eval, g_eval)
                    rows.append({
                        "n_fit": n_fit, "n_eval": n_eval, "setting": setting, "shift": setting_shift,
                        "estimator": estimator, "draw": draw,
                        "auc_change": roc_auc_score(y_eval, rectified) - auc,
                        "brier_change": brier_score_loss(y_eval, rectified) - brier,
                        "patterns_corrected": sum(fitted["applied"] for fitted in rectifier.summary()["patterns"].values()),
                        "tau_pattern0": tau0 if abs(tau0 := rectifier.offsets_.get(0, 0.0)) > rectifier.kappa_ else 0.0,
                    })
    return pd.DataFrame(rows)


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    grouped = results.groupby(["n_fit", "n_eval", "setting", "estimator"], sort=False)
    return grouped.agg(
        mean_auc_change=("auc_change", "mean"),
        mean_brier_change=("brier_change", "mean"),
        brier_worse_share=("brier_change", lambda b: float(np.mean(b > 0))),
        patterns_corrected=("patterns_corrected", "mean"),
        tau_pattern0=("tau_pattern0", "mean"),
        draws=("draw", "size"),
    ).reset_index()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=200, help="simulated fit/evaluation cohorts per size and setting")
    parser.add_argument("--sizes", default="300:400,2000:2000", help="fit:evaluation cohort sizes, comma-separated")
    parser.add_argument("--shift", type=float, default=0.08, help="true-rate shift of pattern 0 in the bias setting")
    parser.add_argument("--base-logit", type=float, default=-1.4, help="mean logit of the outcome probability (-1.4: about 25%% positive)")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_suffix(".csv"))
    args = parser.parse_args()
    sizes = [tuple(int(n) for n in size.split(":")) for size in args.sizes.split(",")]
    results = run(args.draws, sizes, args.shift, args.base_logit)
    results.to_csv(args.out, index=False, float_format="%.6g")
    signed, plain = "{:+.5f}".format, "{:.2f}".format
    formatters = {"mean_auc_change": signed, "mean_brier_change": signed, "tau_pattern0": signed,
                  "brier_worse_share": plain, "patterns_corrected": plain}
    print(summarise(results).to_string(index=False, formatters=formatters))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
