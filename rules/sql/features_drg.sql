-- Feature group "drg" (src/mmnar/data/feature_groups.py): the diagnosis-related groups coded for the
-- index admission, one row per cohort patient. Coded at discharge. APR-DRGs carry a severity of
-- illness and a risk of mortality subclass (1 minor .. 4 extreme); HCFA (MS-DRG) rows carry neither.
-- A patient without an APR row has NULL subclasses (the encoder adds a missing flag).
SELECT c.subject_id,
       MAX(IF(d.drg_type = 'APR', CAST(d.drg_severity AS INT64), NULL)) AS apr_drg_severity,
       MAX(IF(d.drg_type = 'APR', CAST(d.drg_mortality AS INT64), NULL)) AS apr_drg_mortality,
       IF(COUNTIF(d.drg_type = 'APR') > 0, 1, 0) AS has_apr_drg,
       IF(COUNTIF(d.drg_type = 'HCFA') > 0, 1, 0) AS has_hcfa_drg
FROM cohort AS c
LEFT JOIN `physionet-data.mimiciv_3_1_hosp.drgcodes` AS d ON d.hadm_id = c.hadm_id
GROUP BY c.subject_id
ORDER BY c.subject_id
