-- Structured features aggregated over each patient's observation window, one row per
-- (patient, feature). Reads the sampled cohort through the `cohort` CTE the runner prepends.
-- Labs are matched by patient and time, so lab rows without hadm_id (drawn before the admission
-- was registered) still count when they fall inside the window.
WITH item_features AS (
  SELECT 'chart' AS source, 220045 AS itemid, 'heart_rate' AS feature UNION ALL
  SELECT 'chart', 220179, 'sbp' UNION ALL
  SELECT 'chart', 220180, 'dbp' UNION ALL
  SELECT 'chart', 220181, 'mbp' UNION ALL
  SELECT 'chart', 220210, 'resp_rate' UNION ALL
  SELECT 'chart', 220277, 'spo2' UNION ALL
  SELECT 'chart', 223761, 'temperature_f' UNION ALL
  SELECT 'chart', 220739, 'gcs_eye' UNION ALL
  SELECT 'chart', 223900, 'gcs_verbal' UNION ALL
  SELECT 'chart', 223901, 'gcs_motor' UNION ALL
  SELECT 'lab', 50912, 'creatinine' UNION ALL
  SELECT 'lab', 51006, 'bun' UNION ALL
  SELECT 'lab', 50983, 'sodium' UNION ALL
  SELECT 'lab', 50971, 'potassium' UNION ALL
  SELECT 'lab', 50931, 'glucose' UNION ALL
  SELECT 'lab', 51222, 'hemoglobin' UNION ALL
  SELECT 'lab', 51301, 'wbc' UNION ALL
  SELECT 'lab', 51265, 'platelets' UNION ALL
  SELECT 'lab', 50813, 'lactate' UNION ALL
  SELECT 'lab', 50882, 'bicarbonate' UNION ALL
  SELECT 'lab', 50902, 'chloride' UNION ALL
  SELECT 'lab', 51221, 'hematocrit' UNION ALL
  SELECT 'lab', 50885, 'bilirubin_total'
),
measurements AS (
  SELECT c.subject_id, f.feature, ce.valuenum
  FROM cohort AS c
  JOIN `physionet-data.mimiciv_3_1_icu.chartevents` AS ce ON ce.stay_id = c.stay_id
  JOIN item_features AS f ON f.source = 'chart' AND f.itemid = ce.itemid
  WHERE ce.charttime >= c.window_start AND ce.charttime <= c.window_end
    AND ce.valuenum IS NOT NULL
  UNION ALL
  SELECT c.subject_id, f.feature, le.valuenum
  FROM cohort AS c
  JOIN `physionet-data.mimiciv_3_1_hosp.labevents` AS le ON le.subject_id = c.subject_id
  JOIN item_features AS f ON f.source = 'lab' AND f.itemid = le.itemid
  WHERE le.charttime >= c.window_start AND le.charttime <= c.window_end
    AND (le.hadm_id = c.hadm_id OR le.hadm_id IS NULL)
    AND le.valuenum IS NOT NULL
),
-- A value stored as inf or NaN (a damaged file: MIMIC itself has none) is not a measurement: it is
-- left out of the aggregates and counted in n_nonfinite, which the extraction reports.
checked AS (
  SELECT subject_id, feature, valuenum, NOT (IS_INF(valuenum) OR IS_NAN(valuenum)) AS finite
  FROM measurements
)
SELECT subject_id, feature,
       AVG(IF(finite, valuenum, NULL)) AS mean, MIN(IF(finite, valuenum, NULL)) AS min,
       MAX(IF(finite, valuenum, NULL)) AS max, CAST(COUNTIF(finite) AS INT64) AS n,
       CAST(COUNTIF(NOT finite) AS INT64) AS n_nonfinite
FROM checked
GROUP BY subject_id, feature
ORDER BY subject_id, feature
