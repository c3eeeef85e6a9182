-- Feature group "admission" (src/mmnar/data/feature_groups.py): the index admission's record and the
-- patient's use of the hospital before it, one row per cohort patient. Everything here is known
-- during the stay: the admission record is written at admission, utilisation lies before it, and
-- the time in hospital is counted up to the prediction time (the window end), never to discharge.
-- Categorical columns are returned as text; the encoder maps them onto a fixed vocabulary.
WITH earlier_admissions AS (
  SELECT c.subject_id,
         COUNTIF(a.admittime >= DATETIME_SUB(c.admittime, INTERVAL 365 DAY)) AS n_admissions_1y,
         COUNTIF(a.edregtime IS NOT NULL
                 AND a.edregtime >= DATETIME_SUB(c.admittime, INTERVAL 365 DAY)) AS n_ed_visits_1y,
         MAX(a.dischtime) AS last_dischtime
  FROM cohort AS c
  JOIN `physionet-data.mimiciv_3_1_hosp.admissions` AS a ON a.subject_id = c.subject_id
  WHERE a.admittime < c.admittime AND a.dischtime <= c.admittime
  GROUP BY c.subject_id
),
earlier_icu AS (
  SELECT c.subject_id, COUNT(*) AS n_icu_stays_1y
  FROM cohort AS c
  JOIN `physionet-data.mimiciv_3_1_icu.icustays` AS s ON s.subject_id = c.subject_id
  WHERE s.intime < c.admittime AND s.intime >= DATETIME_SUB(c.admittime, INTERVAL 365 DAY)
  GROUP BY c.subject_id
)
SELECT c.subject_id,
       a.admission_type, a.admission_location, a.insurance, a.language, a.marital_status,
       IF(a.edregtime IS NULL, 0, 1) AS arrived_via_ed,
       DATETIME_DIFF(c.window_end, c.admittime, SECOND) / 3600.0 AS hours_in_hospital_at_prediction,
       DATETIME_DIFF(c.intime, c.admittime, SECOND) / 3600.0 AS hours_admission_to_icu,
       COALESCE(e.n_admissions_1y, 0) AS n_admissions_1y,
       COALESCE(e.n_ed_visits_1y, 0) AS n_ed_visits_1y,
       COALESCE(i.n_icu_stays_1y, 0) AS n_icu_stays_1y,
       DATETIME_DIFF(c.admittime, e.last_dischtime, SECOND) / 86400.0 AS days_since_last_discharge
FROM cohort AS c
JOIN `physionet-data.mimiciv_3_1_hosp.admissions` AS a ON a.hadm_id = c.hadm_id
LEFT JOIN earlier_admissions AS e ON e.subject_id = c.subject_id
LEFT JOIN earlier_icu AS i ON i.subject_id = c.subject_id
ORDER BY c.subject_id
