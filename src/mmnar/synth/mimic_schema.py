"""Column orders, dictionary rows and itemids copied from the real PhysioNet releases.

The synthetic tables must be read by the same SQL as the real ones, so every name here is the
one PhysioNet ships (checked against the MIMIC-IV demo 2.2 headers).
"""

from __future__ import annotations

PATIENTS_COLUMNS = ["subject_id", "gender", "anchor_age", "anchor_year", "anchor_year_group", "dod"]
ADMISSIONS_COLUMNS = [
    "subject_id", "hadm_id", "admittime", "dischtime", "deathtime", "admission_type",
    "admit_provider_id", "admission_location", "discharge_location", "insurance", "language",
    "marital_status", "race", "edregtime", "edouttime", "hospital_expire_flag",
]
ICUSTAYS_COLUMNS = [
    "subject_id", "hadm_id", "stay_id", "first_careunit", "last_careunit", "intime", "outtime", "los",
]
LABEVENTS_COLUMNS = [
    "labevent_id", "subject_id", "hadm_id", "specimen_id", "itemid", "order_provider_id", "charttime",
    "storetime", "value", "valuenum", "valueuom", "ref_range_lower", "ref_range_upper", "flag",
    "priority", "comments",
]
CHARTEVENTS_COLUMNS = [
    "subject_id", "hadm_id", "stay_id", "caregiver_id", "charttime", "storetime", "itemid", "value",
    "valuenum", "valueuom", "warning",
]
D_LABITEMS_COLUMNS = ["itemid", "label", "fluid", "category"]
D_ITEMS_COLUMNS = [
    "itemid", "label", "abbreviation", "linksto", "category", "unitname", "param_type",
    "lownormalvalue", "highnormalvalue",
]
NOTE_COLUMNS = ["note_id", "subject_id", "hadm_id", "note_type", "note_seq", "charttime", "storetime", "text"]
CXR_METADATA_COLUMNS = [
    "dicom_id", "subject_id", "study_id", "PerformedProcedureStepDescription", "ViewPosition", "Rows",
    "Columns", "StudyDate", "StudyTime", "ProcedureCodeSequence_CodeMeaning",
    "ViewCodeSequence_CodeMeaning", "PatientOrientationCodeSequence_CodeMeaning",
]

D_LABITEMS_ROWS = [
    (50813, "Lactate", "Blood", "Blood Gas"),
    (50882, "Bicarbonate", "Blood", "Chemistry"),
    (50885, "Bilirubin, Total", "Blood", "Chemistry"),
    (50902, "Chloride", "Blood", "Chemistry"),
    (50912, "Creatinine", "Blood", "Chemistry"),
    (50931, "Glucose", "Blood", "Chemistry"),
    (50971, "Potassium", "Blood", "Chemistry"),
    (50983, "Sodium", "Blood", "Chemistry"),
    (51006, "Urea Nitrogen", "Blood", "Chemistry"),
    (51221, "Hematocrit", "Blood", "Hematology"),
    (51222, "Hemoglobin", "Blood", "Hematology"),
    (51265, "Platelet Count", "Blood", "Hematology"),
    (51301, "White Blood Cells", "Blood", "Hematology"),
]
D_ITEMS_ROWS = [
    (220045, "Heart Rate", "HR", "chartevents", "Routine Vital Signs", "bpm", "Numeric", None, None),
    (220179, "Non Invasive Blood Pressure systolic", "NBPs", "chartevents", "Routine Vital Signs", "mmHg", "Numeric", None, None),
    (220180, "Non Invasive Blood Pressure diastolic", "NBPd", "chartevents", "Routine Vital Signs", "mmHg", "Numeric", None, None),
    (220181, "Non Invasive Blood Pressure mean", "NBPm", "chartevents", "Routine Vital Signs", "mmHg", "Numeric", None, None),
    (220210, "Respiratory Rate", "RR", "chartevents", "Respiratory", "insp/min", "Numeric", None, None),
    (220277, "O2 saturation pulseoxymetry", "SpO2", "chartevents", "Respiratory", "%", "Numeric", None, None),
    (220739, "GCS - Eye Opening", "Eye Opening", "chartevents", "Neurological", None, "Text", None, None),
    (223761, "Temperature Fahrenheit", "Temperature F", "chartevents", "Routine Vital Signs", "°F", "Numeric", None, None),
    (223900, "GCS - Verbal Response", "Verbal Response", "chartevents", "Neurological", None, "Text", None, None),
    (223901, "GCS - Motor Response", "Motor Response", "chartevents", "Neurological", None, "Text", None, None),
]

ANCHOR_YEAR_GROUPS = ["2008 - 2010", "2011 - 2013", "2014 - 2016", "2017 - 2019", "2020 - 2022"]
