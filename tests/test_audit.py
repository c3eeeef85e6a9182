"""The leakage audit flags the discharge summary under the paper window, and only what leaks."""

import pandas as pd

from mmnar.reporting.audit import audit


def cohort(window_end_at_discharge: bool):
    discharge = pd.Timestamp("2150-01-10")
    end = discharge if window_end_at_discharge else pd.Timestamp("2150-01-03")
    return pd.DataFrame({"subject_id": [1, 2, 3, 4], "mortality_inhosp": [1.0, 1.0, 0.0, 0.0],
                         "dischtime": [discharge] * 4, "window_end": [end] * 4})


def notes(texts):
    return pd.DataFrame({"subject_id": [1, 2, 3, 4], "text": texts})


def test_paper_window_with_death_in_summary_leaks_mortality_only():
    table = audit(cohort(True), {"T": notes(["Patient expired.", "The patient died", "home", "rehab"])}, "paper")
    flagged = table[table["leaks"]]
    assert set(flagged["task"]) == {"mortality_inhosp"}
    text_row = table[table["modality"] == "T"].iloc[0]
    assert text_row["deceased_share"] == 1.0 and text_row["survivor_share"] == 0.0 and text_row["leaks"]


def test_early_window_without_death_words_does_not_leak():
    table = audit(cohort(False), {"R": notes(["clear lungs", "effusion", "clear", "normal"])}, "early")
    assert not table["leaks"].any()


def test_early_window_reaching_a_death_is_flagged_with_its_share():
    frame = cohort(False)
    frame.loc[0, "window_end"] = frame.loc[0, "dischtime"]      # died within the early window
    table = audit(frame, {}, "early").set_index("task")
    assert table.loc["mortality_inhosp", "leaks"]
    assert table.loc["mortality_inhosp", "deceased_share"] == 0.5
    assert not table.loc["readmit_30d", "leaks"]


def test_small_cells_blank_the_share_but_not_the_verdict():
    table = audit(cohort(True), {"T": notes(["Patient expired.", "The patient died", "home", "rehab"])}, "paper",
                  min_cell_count=10)
    text_row = table[table["modality"] == "T"].iloc[0]
    assert text_row["leaks"] and text_row["suppressed"]
    assert pd.isna(text_row["deceased_share"]) and pd.isna(text_row["survivor_share"])
