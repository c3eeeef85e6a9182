-- Index admissions and labels (docs/method.md, "Cohort and labels"). BigQuery dialect; other engines get a sqlglot translation.
-- One row per patient: the first admission at age >= 18 with exactly one ICU stay.
-- Parameters: @window ('paper' = admission to discharge, 'early' = first @early_hours of the ICU stay).
WITH icu_per_admission AS (
  SELECT hadm_id, COUNT(*) AS n_icu_stays, MIN(stay_id) AS stay_id,
         MIN(intime) AS intime, MIN(outtime) AS outtime
  FROM `physionet-data.mimiciv_3_1_icu.icustays`
  GROUP BY hadm_id
),
adult_single_icu AS (
  SELECT a.subject_id, a.hadm_id, i.stay_id, a.admittime, a.dischtime, a.deathtime,
         i.intime, i.outtime, a.hospital_expire_flag, a.admission_type, a.race, p.gender,
         p.anchor_age + EXTRACT(YEAR FROM a.admittime) - p.anchor_year AS age
  FROM `physionet-data.mimiciv_3_1_hosp.admissions` AS a
  JOIN `physionet-data.mimiciv_3_1_hosp.patients` AS p ON p.subject_id = a.subject_id
  JOIN icu_per_admission AS i ON i.hadm_id = a.hadm_id
  WHERE i.n_icu_stays = 1
),
index_admission AS (
  SELECT *
  FROM adult_single_icu
  WHERE age >= 18
  QUALIFY ROW_NUMBER() OVER (PARTITION BY subject_id ORDER BY admittime, hadm_id) = 1
),
later_events AS (
  SELECT x.hadm_id,
         COUNTIF(a.admittime > x.dischtime
                 AND a.admittime <= DATETIME_ADD(x.dischtime, INTERVAL 30 DAY)) AS n_readmissions_30d,
         CAST(COUNTIF(a.admittime < x.admittime) AS INT64) AS n_prior_admissions
  FROM index_admission AS x
  JOIN `physionet-data.mimiciv_3_1_hosp.admissions` AS a ON a.subject_id = x.subject_id
  GROUP BY x.hadm_id
),
later_icu AS (
  SELECT x.hadm_id,
         COUNTIF(s.intime > x.dischtime
                 AND s.intime <= DATETIME_ADD(x.dischtime, INTERVAL 90 DAY)) AS n_icu_90d
  FROM index_admission AS x
  JOIN `physionet-data.mimiciv_3_1_icu.icustays` AS s ON s.subject_id = x.subject_id
  GROUP BY x.hadm_id
)
SELECT x.subject_id, x.hadm_id, x.stay_id, x.admittime, x.dischtime, x.intime, x.outtime,
       IF(@window = 'early', x.intime, x.admittime) AS window_start,
       IF(@window = 'early',
          LEAST(DATETIME_ADD(x.intime, INTERVAL @early_hours HOUR), x.dischtime),
          x.dischtime) AS window_end,
       x.age, x.gender, x.race, x.admission_type,
       e.n_prior_admissions,
       CAST(x.hospital_expire_flag AS FLOAT64) AS mortality_inhosp,
       IF(x.hospital_expire_flag = 1, NULL, IF(e.n_readmissions_30d > 0, 1.0, 0.0)) AS readmit_30d,
       IF(x.hospital_expire_flag = 1, NULL, IF(c.n_icu_90d > 0, 1.0, 0.0)) AS icu_90d,
       -- Remaining stay (class index, tasks.LOS_CLASSES): ICU admission to hospital discharge, for patients
       -- still in hospital and alive 48 h into the ICU stay (the prediction time); NULL otherwise.
       CASE
         WHEN x.dischtime <= DATETIME_ADD(x.intime, INTERVAL 48 HOUR)
              OR x.deathtime <= DATETIME_ADD(x.intime, INTERVAL 48 HOUR) THEN NULL
         WHEN x.dischtime < DATETIME_ADD(x.intime, INTERVAL 3 DAY) THEN 0.0
         WHEN x.dischtime < DATETIME_ADD(x.intime, INTERVAL 4 DAY) THEN 1.0
         WHEN x.dischtime < DATETIME_ADD(x.intime, INTERVAL 5 DAY) THEN 2.0
         WHEN x.dischtime < DATETIME_ADD(x.intime, INTERVAL 6 DAY) THEN 3.0
         WHEN x.dischtime < DATETIME_ADD(x.intime, INTERVAL 7 DAY) THEN 4.0
         WHEN x.dischtime < DATETIME_ADD(x.intime, INTERVAL 14 DAY) THEN 5.0
         ELSE 6.0
       END AS los_remaining
FROM index_admission AS x
JOIN later_events AS e ON e.hadm_id = x.hadm_id
JOIN later_icu AS c ON c.hadm_id = x.hadm_id
ORDER BY x.subject_id
