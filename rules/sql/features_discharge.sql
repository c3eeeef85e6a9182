-- Feature group "discharge" (src/mmnar/data/feature_groups.py): where the patient went at the end
-- of the index admission, one row per cohort patient. Decided at discharge, and 'DIED' for every
-- in-hospital death: it reaches no model that predicts in-hospital mortality.
SELECT c.subject_id, a.discharge_location
FROM cohort AS c
JOIN `physionet-data.mimiciv_3_1_hosp.admissions` AS a ON a.hadm_id = c.hadm_id
ORDER BY c.subject_id
