"""δ assembly, Figure 1 statistics, patient-level splits and table summaries (CIs, marks, LaTeX)."""

import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from mmnar.data.tasks import DEFAULT_TASKS
from mmnar.data.split import make_split
from mmnar.model_input.delta import build_model_input
from mmnar.modalities import registry
from mmnar.reporting.figures import pattern_outcomes, wilson_interval
from mmnar.reporting.tables import summarise, table1_rows, to_markdown


def write_embedding(path, subject_ids, dim, value):
    frame = pd.DataFrame({"subject_id": subject_ids})
    for k in range(dim):
        frame[f"emb_{k}"] = np.float32(value)
    frame.to_parquet(path, index=False)


def test_model_input_aligns_rows_and_sets_delta(tmp_path):
    cohort = pd.DataFrame({"subject_id": [30, 10, 20], "readmit_30d": [1.0, np.nan, 0.0],
                           "icu_90d": [0.0, np.nan, 1.0], "mortality_inhosp": [0.0, 1.0, 0.0]})
    cohort.to_parquet(tmp_path / "cohort.parquet")
    paths = {m: {"vector": tmp_path / f"{m}.parquet"} for m in "SITR"}
    write_embedding(paths["S"]["vector"], [10, 20, 30], 2, 1.0)
    write_embedding(paths["I"]["vector"], [20], 3, 2.0)
    write_embedding(paths["T"]["vector"], [30, 10], 4, 3.0)
    write_embedding(paths["R"]["vector"], [], 4, 0.0)
    paths["S"]["sequence"] = tmp_path / "S_series.npz"
    np.savez(paths["S"]["sequence"], subject_id=np.array([20, 30]), values=np.arange(8, dtype=np.float32).reshape(2, 2, 2),
             features=np.array(["a", "b"]), hours=np.array([0.0, 1.0]))
    labels = build_model_input(tmp_path / "cohort.parquet", paths, tmp_path / "out", DEFAULT_TASKS)
    delta = np.load(tmp_path / "out" / "delta.npy")
    assert delta.tolist() == [[1, 0, 1, 0], [1, 0, 1, 0], [1, 1, 0, 0]]
    image = np.load(tmp_path / "out" / "I.npy")
    assert image.shape == (3, 3) and image[2].tolist() == [2.0] * 3 and not image[:2].any()
    assert labels["pattern"].tolist() == ["S+T", "S+T", "S+I"]
    assert labels["pattern_id"].tolist() == [5, 5, 3]
    assert labels["subject_id"].tolist() == [30, 10, 20]
    series = np.load(tmp_path / "out" / "S_series.npy")
    assert series.shape == (3, 2, 2) and np.isnan(series[1]).all() and series[0].tolist() == [[4, 5], [6, 7]]


def test_pattern_ids_are_one_encoding_with_bit_k_for_the_kth_registered_modality():
    assert registry.names()[:4] == ("S", "I", "T", "R")
    delta = np.array([[1, 0, 0, 0], [1, 1, 1, 1], [0, 0, 0, 1], [0, 0, 0, 0]])
    assert registry.pattern_ids(delta).tolist() == [1, 15, 8, 0]
    assert [registry.pattern_name(bits) for bits in delta] == ["S", "S+I+T+R", "R", "none"]


def test_pattern_outcomes_count_only_defined_labels():
    labels = pd.DataFrame({"subject_id": range(4), "pattern_id": [1, 1, 1, 3], "pattern": ["S"] * 3 + ["S+I"],
                           "readmit_30d": [1.0, 0.0, np.nan, 1.0], "icu_90d": [0.0, 0.0, np.nan, 1.0],
                           "mortality_inhosp": [0.0, 0.0, 1.0, 0.0]})
    table = pattern_outcomes(labels).set_index(["pattern", "task"])
    assert table.loc[("S", "readmit_30d"), "n_defined"] == 2
    assert table.loc[("S", "readmit_30d"), "rate"] == 0.5
    assert table.loc[("S", "mortality_inhosp"), "n_events"] == 1
    assert (table["ci_low"] <= table["rate"]).all() and (table["rate"] <= table["ci_high"]).all()


def test_pattern_outcomes_suppress_small_cells():
    n = 40
    labels = pd.DataFrame({"subject_id": range(n), "pattern_id": [1] * 35 + [3] * 5,
                           "pattern": ["S"] * 35 + ["S+I"] * 5,
                           "readmit_30d": [1.0] * 15 + [0.0] * 20 + [1.0] * 5,
                           "icu_90d": [1.0] * 3 + [0.0] * 32 + [0.0] * 5,
                           "mortality_inhosp": [0.0] * n})
    table = pattern_outcomes(labels, min_cell_count=10).set_index(["pattern", "task"])
    assert not table.loc[("S", "readmit_30d"), "suppressed"] and table.loc[("S", "readmit_30d"), "n_events"] == 15
    assert table.loc[("S", "icu_90d"), "suppressed"]                 # 3 events
    assert table.loc[("S", "icu_90d")][["n_events", "rate", "ci_low", "ci_high"]].isna().all()
    assert table.loc[("S", "mortality_inhosp"), "n_events"] == 0      # zero is not a small cell
    assert table.loc["S+I"]["suppressed"].all() and table.loc["S+I"]["n_patients"].isna().all()


def test_wilson_interval_matches_reference_value():
    low, high = wilson_interval(np.array([10]), np.array([100]))
    assert low[0] == pytest.approx(0.0552, abs=1e-4) and high[0] == pytest.approx(0.1744, abs=1e-4)


def synthetic_labels(n=1000, seed=0):
    rng = np.random.default_rng(seed)
    death = (rng.random(n) < 0.1).astype(float)
    readmit = np.where(death == 1, np.nan, (rng.random(n) < 0.2).astype(float))
    return pd.DataFrame({"subject_id": np.arange(n) + 100, "mortality_inhosp": death,
                         "readmit_30d": readmit, "icu_90d": readmit})


def test_split_is_seeded_disjoint_and_stratified():
    labels = synthetic_labels()
    split = make_split(labels, seed=0, val_fraction=0.15, test_fraction=0.2)
    assert split.equals(make_split(labels, seed=0, val_fraction=0.15, test_fraction=0.2))
    assert not split.equals(make_split(labels, seed=1, val_fraction=0.15, test_fraction=0.2))
    counts = split["split"].value_counts()
    assert counts["test"] == 200 and counts["val"] == 150 and counts["train"] == 650
    merged = split.merge(labels, on="subject_id")
    rates = merged.groupby("split")["mortality_inhosp"].mean()
    assert rates.max() - rates.min() < 0.01


def test_split_rejects_several_rows_per_patient():
    labels = synthetic_labels(20)
    labels.loc[1, "subject_id"] = labels.loc[0, "subject_id"]
    with pytest.raises(ValueError, match="by patient"):
        make_split(labels, seed=0, val_fraction=0.2, test_fraction=0.2)


def test_summary_reports_mean_and_sd_over_runs_and_says_over_what():
    rows = [{"model": "crl_mmnar", "variant": "raw", "scenario": "observed", "split_seed": s, "init_seed": 0,
             "task": t, "metric": "auc", "value": v, "n_patients": 50 + s}
            for s, v in enumerate([0.6, 0.8]) for t in DEFAULT_TASKS]
    table = summarise(pd.DataFrame(rows), [("crl_mmnar", "raw"), ("basic_concat", "raw")])
    assert len(table) == 1 and (table.loc[0, "n_splits"], table.loc[0, "n_inits"]) == (2, 1)
    assert table.loc[0, "sd_over"] == "2 splits × 1 init" and table.loc[0, "n_test_patients"] == 50.5
    assert table.loc[0, "label"] == "CRL-MMNAR"
    assert table.loc[0, "readmit_30d_auc_mean"] == pytest.approx(0.7)
    assert table.loc[0, "readmit_30d_auc_sd"] == pytest.approx(np.std([0.6, 0.8], ddof=1))
    assert "0.700 ± 0.141" in to_markdown(table)


def test_table1_has_a_row_per_model_then_rectified_variants_then_the_oracle():
    rows = table1_rows(["crl_mmnar", "drfuse"], ["crl_mmnar"], paper_variant=True, oracle=True)
    assert rows == [["crl_mmnar", "raw"], ["drfuse", "raw"], ["crl_mmnar", "rectified"],
                    ["crl_mmnar", "paper_crossfit_test"], ["oracle", "ground_truth"], ["oracle", "recorded"],
                    ["oracle", "recorded_no_delta"]]


# --------------------------------------------------------------------------------------------------
# Table 1's bootstrap CIs, significance and best marks, and the LaTeX rendering


def table_inputs():
    """Metrics of five rows over two runs, their intervals and comparisons with the first reference."""
    from mmnar.evaluation.paired import COLUMNS, INTERVAL_COLUMNS

    means = {("crl_mmnar", "raw"): 0.75, ("basic_concat", "raw"): 0.70, ("crl_mmnar", "rectified"): 0.76,
             ("crl_mmnar", "paper_crossfit_test"): 0.80, ("s_only", "raw"): 0.79, ("oracle", "ground_truth"): 0.9}
    metrics = pd.DataFrame([{"model": m, "variant": v, "scenario": "observed", "split_seed": s, "init_seed": 0,
                             "task": t, "metric": metric, "value": (means[(m, v)] if metric != "brier" else
                                                                    1 - means[(m, v)]) + 0.01 * s, "n_patients": 100}
                            for (m, v) in means for s in range(2) for t in DEFAULT_TASKS
                            for metric in ("auc", "auprc", "brier")])
    intervals = pd.DataFrame([{"model": m, "variant": v, "task": t, "metric": metric, "estimate": value + 0.005,
                               "ci_low": value - 0.03, "ci_high": value + 0.04, "n_patients": 100.0, "n_runs": 2}
                              for (m, v), value in means.items() if m != "oracle" for t in DEFAULT_TASKS
                              for metric in ("auc", "auprc", "brier")], columns=INTERVAL_COLUMNS)
    p_values = {("basic_concat", "raw"): 0.001, ("crl_mmnar", "rectified"): 0.20, ("crl_mmnar", "paper_crossfit_test"): 0.01,
                ("s_only", "raw"): 0.04}
    comparisons = pd.DataFrame([{"model": m, "variant": v, "reference": "crl_mmnar", "reference_role": "configured",
                                 "reference_val_auc": np.nan, "task": t, "metric": metric,
                                 "difference": means[(m, v)] - 0.75, "ci_low": means[(m, v)] - 0.76,
                                 "ci_high": means[(m, v)] - 0.74, "p_value": p, "p_permutation": p,
                                 "p_delong": p if metric == "auc" else np.nan, "n_patients": 100.0, "n_runs": 2}
                                for (m, v), p in p_values.items() for t in DEFAULT_TASKS
                                for metric in ("auc", "auprc", "brier")], columns=COLUMNS)
    # the same model as best single-modality reference: its rows must not be read as the configured ones
    extra = comparisons[comparisons["model"] == "basic_concat"].assign(reference_role="best_single_modality",
                                                                        reference="crl_mmnar", p_permutation=0.9)
    rows = [("crl_mmnar", "raw"), ("basic_concat", "raw"), ("s_only", "raw"), ("crl_mmnar", "rectified"),
            ("crl_mmnar", "paper_crossfit_test"), ("oracle", "ground_truth")]
    return metrics, rows, pd.concat([comparisons, extra], ignore_index=True), intervals


def test_cells_show_the_bootstrap_ci_and_mark_significant_differences():
    metrics, rows, comparisons, intervals = table_inputs()
    table = summarise(metrics, rows, comparisons=comparisons, reference="crl_mmnar", intervals=intervals)
    concat = table.set_index(["model", "variant"]).loc[("basic_concat", "raw")]
    assert concat["icu_90d_auc_ci_low"] == pytest.approx(0.67) and concat["icu_90d_auc_p_permutation"] == 0.001
    assert concat["icu_90d_auc_p_delong"] == 0.001 and concat["icu_90d_brier_p_permutation"] == 0.001
    markdown = to_markdown(table)
    assert "| 0.705 ± 0.007 [0.670, 0.740] (Δ −0.050 [−0.060, −0.040])* | 0.705 ± 0.007 [0.670, 0.740]* | " \
           "0.305 ± 0.007* |" in markdown                       # Brier: no CI shown, still marked
    assert "**0.765** ± 0.007 [0.730, 0.800] (Δ 0.010 [0.000, 0.020]) |" in markdown   # p 0.2: no mark; best
    assert "*: the paired permutation test against CRL-MMNAR (no rectifier)" in markdown and "p < 0.05" in markdown
    assert "[low, high] after the sd: 95 % bootstrap CI over test patients" in markdown
    assert markdown.count("±") == len(table) * 9                                  # the notes add none
    body = markdown.split("\n\n")[0]
    n_marked = 3 * 3 * 3                                      # basic_concat, paper_crossfit_test, s_only (p 0.04)
    assert body.count("*") - 2 * body.count("**") == n_marked
    stricter = to_markdown(table, significance_level=0.005)
    assert stricter.split("\n\n")[0].count("*") - 2 * stricter.split("\n\n")[0].count("**") == 9


def test_a_single_run_shows_no_sd_and_no_nan():
    metrics, rows, comparisons, intervals = table_inputs()
    table = summarise(metrics, rows, comparisons=comparisons, reference="crl_mmnar", intervals=intervals)
    sd_columns = [c for c in table.columns if c.endswith("_sd")]
    table[sd_columns] = float("nan")   # what one split × one initialisation seed gives
    markdown = to_markdown(table)
    assert "nan" not in markdown and "±" not in markdown.split("\n\n")[0]
    assert "| 0.705 [0.670, 0.740] (Δ −0.050 [−0.060, −0.040])* |" in markdown


def test_best_marks_skip_the_oracle_single_modality_test_label_variants_and_leaked_tasks():
    from test_paired import AUDIT

    metrics, rows, comparisons, intervals = table_inputs()
    table = summarise(metrics, rows, comparisons=comparisons, reference="crl_mmnar", intervals=intervals, audit=AUDIT)
    best = table.set_index(["model", "variant"])
    for task in ("readmit_30d", "icu_90d"):
        for metric in ("auc", "auprc", "brier"):                  # brier is 1 − mean here: lowest is the same row
            assert best[f"{task}_{metric}_best"].tolist() == [row == ("crl_mmnar", "rectified") for row in rows]
    assert not table[[f"mortality_inhosp_{m}_best" for m in ("auc", "auprc", "brier")]].any().any()   # leaked
    markdown = to_markdown(table)
    assert markdown.count("**0.765**") == 4 and markdown.count("**0.245**") == 2 and "**0.805**" not in markdown and "**0.795**" not in markdown
    assert "Bold: best mean of the column" in markdown


def unescaped(text, char):
    return len(re.findall(r"(?<!\\)" + re.escape(char), text))


def balanced(text):
    depth = 0
    for char in re.sub(r"\\[{}]", "", text):
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


def test_latex_escapes_and_lays_out_a_booktabs_table():
    from mmnar.reporting.latex import escape, latex_table

    assert escape("a_b & 50% #1 {x} ~ ^ \\ <") == \
        r"a\_b \& 50\% \#1 \{x\} \textasciitilde{} \textasciicircum{} \textbackslash{} \textless{}"
    assert escape("**0.7** ± 0.1*") == r"\textbf{0.7} $\pm$ 0.1\textsuperscript{*}"
    assert escape("Δ −0.01 †") == r"$\Delta$ $-$0.01 \textsuperscript{\dag}"
    tex = latex_table(["A_1", "B"], [["x & y", "1%"]], caption="Cap_tion 5 %", label="tab:x", notes=["n_1"],
                      groups=[("", 1), ("grp_1", 1)])
    assert tex.count(r"\toprule") == tex.count(r"\midrule") == tex.count(r"\bottomrule") == 1
    assert r"x \& y & 1\%" in tex and r"\caption{Cap\_tion 5 \%}" in tex and r"n\_1\par" in tex and balanced(tex)
    with pytest.raises(ValueError, match="every row"):
        latex_table(["a", "b"], [["1"]], caption="c", label="l")


def test_table1_latex_has_every_cell_escaped_and_the_footnotes(tmp_path):
    from test_paired import AUDIT

    from mmnar.reporting.tables import to_latex, write_table

    metrics, rows, comparisons, intervals = table_inputs()
    labels = {("basic_concat", "raw"): "Concat & zero_imputation (100% of S)"}
    table = summarise(metrics, rows, labels, comparisons, "crl_mmnar", AUDIT, intervals)
    tex = to_latex(table, {"mortality_inhosp": ["window reaches discharge"]})
    assert tex.startswith(r"% requires \usepackage{booktabs}") and balanced(tex) and unescaped(tex, "$") % 2 == 0
    lines = tex.splitlines()
    body = lines[lines.index(r"\midrule") + 1:lines.index(r"\bottomrule")]
    assert len(body) == len(table) and all(unescaped(line, "&") == 3 + 9 - 1 for line in body)
    assert r"Concat \& zero\_imputation (100\% of S)" in tex and "_" not in tex.replace(r"\_", "")
    assert r"\multicolumn{3}{c}{readmit\_30d}" in tex and r"\cmidrule(lr){4-6}" in tex
    assert r"\textbf{0.765}" in tex and r"(\textsuperscript{\dag}" not in tex
    assert r"0.705 $\pm$ 0.007 [0.670, 0.740] ($\Delta$ $-$0.050 [$-$0.060, $-$0.040])\textsuperscript{*} " \
           r"\textsuperscript{\dag}" in tex                       # mortality_inhosp is leaked
    assert r"\textsuperscript{\dag} leaked: mortality\_inhosp: window reaches discharge" in tex
    assert r"p \textless{} 0.05" in tex and "results/comparisons.csv" in tex.replace(r"\_", "_")
    # write_table renders the same file next to the markdown
    for name, frame in (("metrics", metrics), ("comparisons", comparisons), ("audit", AUDIT), ("intervals", intervals)):
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
    write_table([tmp_path / "metrics.csv"], rows, tmp_path / "t.csv", tmp_path / "t.md", labels,
                tmp_path / "comparisons.csv", "crl_mmnar", tmp_path / "audit.csv", tmp_path / "intervals.csv",
                tmp_path / "t.tex", caption="Table_2: ablation", label="tab:table2")
    written = (tmp_path / "t.tex").read_text()
    assert r"\caption{Table\_2: ablation}" in written and r"\label{tab:table2}" in written and balanced(written)
    assert pd.read_csv(tmp_path / "t.csv")["basic_concat" == pd.read_csv(tmp_path / "t.csv")["model"]].shape[0] == 1
    if shutil.which("pdflatex"):                             # where LaTeX is installed: it compiles
        document = tmp_path / "doc.tex"
        document.write_text("\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n"
                            f"{written}\n\\end{{document}}\n")
        result = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", document.name],
                                cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout[-3000:]
