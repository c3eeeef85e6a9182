"""Feature groups of S: which group may reach which prediction, their encoding, the config check and the audit."""

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from mmnar.config import ConfigError, check_feature_groups, validate_config
from mmnar.data import feature_groups
from mmnar.data.feature_groups import DISCHARGE, STAY, availability, selected, unavailable_reason
from mmnar.data.tasks import DEFAULT_TASKS
from mmnar.modalities.structured import assemble, encode_group, run_embed_structured
from mmnar.reporting.audit import audit
from workflow_runner import REPO


def test_no_discharge_time_group_reaches_an_early_window_prediction():
    for group in feature_groups.groups():
        for task in DEFAULT_TASKS:
            reason = unavailable_reason(group, "early", task)
            assert bool(reason) == (group.known_at == DISCHARGE or task in group.reveals), (group.name, task)
    early = selected(None, "early")
    assert early and all(feature_groups.get(name).known_at == STAY for name in early)
    assert {"diagnoses", "procedures", "drg", "discharge"}.isdisjoint(early)


def test_discharge_location_never_reaches_in_hospital_mortality():
    discharge = feature_groups.get("discharge")
    assert any(c.column == "discharge_location" for c in discharge.categorical)
    for window in ("paper", "early"):
        assert unavailable_reason(discharge, window, "mortality_inhosp")
        assert "discharge" not in selected(None, window)
    # Without mortality among the tasks, a discharge-time prediction may use it.
    assert availability("paper", ("readmit_30d", "icu_90d"))["discharge"] == ""


def test_paper_window_uses_every_group_known_at_discharge_that_states_no_label():
    assert selected(None, "paper") == ("demographics", "vitals_labs", "admission", "medications", "diagnoses",
                                       "procedures", "drg")


def test_only_one_group_definition_per_column_name():
    columns = [name for g in feature_groups.groups() for c in g.categorical for name in c.feature_names()]
    columns += [n for g in feature_groups.groups() for n in g.nullable]
    assert len(columns) == len(set(columns))


def config_with(window, groups, source="synthetic", mimiciv=None):
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config |= {"source": source, "local": {"mimiciv": mimiciv, "note": None, "cxr": None},
               "features": {"groups": groups}}
    config["cohort"]["window"] = window
    return validate_config(config)


def test_config_rejects_a_group_the_window_does_not_allow_in_one_line():
    with pytest.raises(ConfigError, match=r"features.groups.*'diagnoses' cannot be used \(known only at discharge.*window 'early'"):
        check_feature_groups(config_with("early", ["vitals_labs", "diagnoses"]))
    with pytest.raises(ConfigError, match=r"'discharge' cannot be used \(states the label of mortality_inhosp"):
        check_feature_groups(config_with("paper", ["discharge"]))
    check_feature_groups(config_with("paper", ["vitals_labs", "diagnoses"]))


def test_config_rejects_an_unknown_group_name():
    with pytest.raises(ConfigError, match=r"features.groups"):
        config_with("paper", ["vitals", "diagnoses"])


def test_config_names_a_missing_local_table(tmp_path):
    (tmp_path / "hosp").mkdir()
    (tmp_path / "icu").mkdir()
    for table in ("admissions", "icustays"):
        folder = "icu" if table == "icustays" else "hosp"
        (tmp_path / folder / f"{table}.csv.gz").write_bytes(b"")
    config = config_with("paper", ["admission", "medications"], source="local", mimiciv=str(tmp_path))
    with pytest.raises(ConfigError, match=r"group 'medications' reads .*prescriptions.csv.gz, which does not exist"):
        check_feature_groups(config)


def test_one_hot_puts_each_patient_in_exactly_one_level():
    group = feature_groups.get("admission")
    frame = pd.DataFrame({
        "subject_id": [1, 2, 3, 4, 5],
        "admission_type": ["EW EMER.", " urgent ", None, "SOMETHING NEW", "ELECTIVE"],
        "admission_location": ["EMERGENCY ROOM"] * 5, "insurance": ["Medicare", "Other", "", "Private", "?"],
        "language": ["English", "?", "ENGLISH", "Amharic", None], "marital_status": ["MARRIED"] * 5,
        "days_since_last_discharge": [np.nan, 10.0, np.nan, 2.5, 400.0], "n_admissions_1y": [0, 1, 0, 3, 1],
    })
    encoded = encode_group(frame, group).set_index("subject_id")
    for column in ("admission_type", "insurance", "language"):
        block = encoded[[c for c in encoded.columns if c.startswith(f"{column}=")]]
        assert (block.sum(axis=1) == 1).all(), column
    assert encoded.loc[2, "admission_type=URGENT"] == 1
    assert encoded.loc[3, "admission_type=missing"] == 1 and encoded.loc[4, "admission_type=other"] == 1
    assert encoded.loc[2, "insurance=other"] == 1 and encoded.loc[3, "insurance=missing"] == 1
    assert encoded.loc[4, "language=other"] == 1 and encoded.loc[2, "language=missing"] == 1
    assert encoded["days_since_last_discharge_missing"].tolist() == [1, 0, 1, 0, 0]
    assert np.isnan(encoded.loc[1, "days_since_last_discharge"])
    assert encoded["n_admissions_1y"].tolist() == [0, 1, 0, 3, 1]


def test_an_undeclared_text_column_is_an_error():
    frame = pd.DataFrame({"subject_id": [1], "n_procedures": [2], "n_distinct_procedures": [2], "note": ["x"]})
    with pytest.raises(TypeError, match="note"):
        encode_group(frame, feature_groups.get("procedures"))


def test_s_holds_the_selected_groups_only_and_names_them(tmp_path):
    structured = pd.DataFrame({"subject_id": [2, 1], "age": [70.0, 50.0], "is_female": [1.0, 0.0],
                               "heart_rate_mean": [80.0, np.nan], "heart_rate_missing": [0.0, 1.0]})
    drg = pd.DataFrame({"subject_id": [1, 2], "apr_drg_severity": [3, None], "apr_drg_mortality": [2, None],
                        "has_apr_drg": [1, 0], "has_hcfa_drg": [1, 1]})
    structured.to_parquet(tmp_path / "structured.parquet", index=False)
    drg.to_parquet(tmp_path / "drg.parquet", index=False)
    run_embed_structured(tmp_path / "structured.parquet", tmp_path / "S.parquet", {"drg": tmp_path / "drg.parquet"},
                         ["demographics", "drg"])
    names = json.loads((tmp_path / "S.features.json").read_text())
    by_group = json.loads((tmp_path / "S.feature_groups.json").read_text())
    assert list(by_group) == ["demographics", "drg"]
    assert names == by_group["demographics"] + by_group["drg"]
    assert "heart_rate_mean" not in names
    frame = pd.read_parquet(tmp_path / "S.parquet")
    assert frame["subject_id"].tolist() == [2, 1]                          # structured.parquet's row order
    row = dict(zip(names, frame.drop(columns="subject_id").to_numpy()[0]))
    assert row["age"] == 70 and row["apr_drg_severity_missing"] == 1 and row["has_hcfa_drg"] == 1


def test_a_selected_group_without_its_extraction_is_an_error():
    structured = pd.DataFrame({"subject_id": [1], "age": [50.0]})
    with pytest.raises(ValueError, match="medications"):
        assemble(structured, {}, ["demographics", "medications"])


def audit_cohort():
    discharge = pd.Timestamp("2150-01-10")
    return pd.DataFrame({"subject_id": [1, 2], "mortality_inhosp": [1.0, 0.0],
                         "dischtime": [discharge] * 2, "window_end": [pd.Timestamp("2150-01-03")] * 2})


def test_audit_has_a_row_per_group_task_and_flags_a_discharge_group_in_an_early_run():
    clean = audit(audit_cohort(), {}, "early", used_groups={"vitals_labs": ["hr"], "admission": ["los"]})
    groups = clean[clean["check"].str.startswith("feature group")]
    assert len(groups) == len(feature_groups.groups()) * len(DEFAULT_TASKS)
    assert not clean["leaks"].any()
    assert (groups["detail"].str.startswith("used")).sum() == 2 * len(DEFAULT_TASKS)

    leaked = audit(audit_cohort(), {}, "early", used_groups={"vitals_labs": ["hr"], "diagnoses": ["n_diagnoses"]})
    flagged = leaked[leaked["leaks"]]
    assert set(flagged["check"]) == {"feature group diagnoses (known at discharge)"}
    assert set(flagged["task"]) == set(DEFAULT_TASKS)


def test_audit_flags_discharge_location_for_mortality_only():
    table = audit(audit_cohort(), {}, "paper", used_groups={"discharge": ["discharge_location=DIED"]})
    flagged = table[table["leaks"] & table["check"].str.contains("discharge")]
    assert flagged["task"].tolist() == ["mortality_inhosp"]
