-- Feature group "procedures" (src/mmnar/data/feature_groups.py): ICD-9-CM / ICD-10-PCS procedure
-- codes of the index admission, one row per cohort patient (zeros without codes). Coded at
-- discharge: known to a discharge-time prediction only, whatever each code's chartdate says.
SELECT c.subject_id,
       COUNT(p.icd_code) AS n_procedures,
       COUNT(DISTINCT IF(p.icd_code IS NULL, NULL,
                         CONCAT(CAST(p.icd_version AS STRING), ':', TRIM(CAST(p.icd_code AS STRING))))) AS n_distinct_procedures
FROM cohort AS c
LEFT JOIN `physionet-data.mimiciv_3_1_hosp.procedures_icd` AS p ON p.hadm_id = c.hadm_id
GROUP BY c.subject_id
ORDER BY c.subject_id
