-- Structured features as an hourly time series over each patient's observation window: one row per
-- (patient, bin, feature) with a bin that holds a measurement. The same vitals and labs, matched the
-- same way, as structured.sql (its item_features CTE is repeated here verbatim; a test checks that
-- both files list the same items). Reads the sampled cohort through the `cohort` CTE the runner
-- prepends.
-- Parameters: @window and @early_hours (as cohort.sql), @horizon_hours (T, the number of 1-hour bins).
-- Anchor: with @window = 'early', bin 0 starts at window_start (the ICU intime) and bins run forward:
--   bin b holds [window_start + b h, window_start + (b+1) h); the horizon is
--   [window_start, window_start + T h], closed, so a value at exactly T h lands in bin T-1.
-- With @window = 'paper', the horizon is the last T hours before window_end and bin T-1 ends there:
--   bin b holds (window_end - (T-b) h, window_end - (T-1-b) h]; the horizon is
--   [window_end - T h, window_end], closed, so a value at exactly T h before the end lands in bin 0.
--   A stay shorter than T hours fills only the last bins.
-- Only values inside both the horizon and the window (structured.sql's closed
-- [window_start, window_end]) count, so when the window is no longer than the horizon the series holds
-- exactly the measurements structured.sql aggregates. Bin start relative to the anchor: b hours
-- ('early') or b - T hours ('paper').
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
-- Per patient: the anchor and the part of the window the horizon covers (empty when they do not meet).
horizon AS (
  SELECT subject_id, hadm_id, stay_id,
         IF(@window = 'early', window_start, window_end) AS anchor,
         IF(@window = 'early', window_start,
            GREATEST(window_start, DATETIME_SUB(window_end, INTERVAL @horizon_hours HOUR))) AS lo,
         IF(@window = 'early',
            LEAST(window_end, DATETIME_ADD(window_start, INTERVAL @horizon_hours HOUR)), window_end) AS hi
  FROM cohort
),
-- Rows are filtered by time before any grouping; the offset is whole seconds from the anchor, >= 0.
measurements AS (
  SELECT h.subject_id, f.feature, ce.valuenum,
         IF(@window = 'early', DATETIME_DIFF(ce.charttime, h.anchor, SECOND),
            DATETIME_DIFF(h.anchor, ce.charttime, SECOND)) AS offset_s
  FROM horizon AS h
  JOIN `physionet-data.mimiciv_3_1_icu.chartevents` AS ce ON ce.stay_id = h.stay_id
  JOIN item_features AS f ON f.source = 'chart' AND f.itemid = ce.itemid
  WHERE ce.charttime >= h.lo AND ce.charttime <= h.hi
    AND ce.valuenum IS NOT NULL
  UNION ALL
  SELECT h.subject_id, f.feature, le.valuenum,
         IF(@window = 'early', DATETIME_DIFF(le.charttime, h.anchor, SECOND),
            DATETIME_DIFF(h.anchor, le.charttime, SECOND)) AS offset_s
  FROM horizon AS h
  JOIN `physionet-data.mimiciv_3_1_hosp.labevents` AS le ON le.subject_id = h.subject_id
  JOIN item_features AS f ON f.source = 'lab' AND f.itemid = le.itemid
  WHERE le.charttime >= h.lo AND le.charttime <= h.hi
    AND (le.hadm_id = h.hadm_id OR le.hadm_id IS NULL)
    AND le.valuenum IS NOT NULL
),
-- Whole hours from the anchor, the far end of the closed horizon folded into the last step; then
-- counted from the start ('early') or back from the end ('paper'). A value stored as inf or NaN (a
-- damaged file: MIMIC itself has none) is left out of the mean and counted in n_nonfinite.
binned AS (
  SELECT subject_id, feature, valuenum,
         IF(@window = 'early', LEAST(DIV(offset_s, 3600), @horizon_hours - 1),
            @horizon_hours - 1 - LEAST(DIV(offset_s, 3600), @horizon_hours - 1)) AS bin,
         NOT (IS_INF(valuenum) OR IS_NAN(valuenum)) AS finite
  FROM measurements
)
SELECT subject_id, bin, feature,
       AVG(IF(finite, valuenum, NULL)) AS mean, CAST(COUNTIF(finite) AS INT64) AS n,
       CAST(COUNTIF(NOT finite) AS INT64) AS n_nonfinite
FROM binned
GROUP BY subject_id, bin, feature
ORDER BY subject_id, bin, feature
