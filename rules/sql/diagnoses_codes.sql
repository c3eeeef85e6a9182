-- The ICD diagnosis codes of each cohort patient's index admission (hosp/diagnoses_icd), for the
-- phenotype_25 labels: mmnar.data.phenotypes maps them to the 25 HCUP CCS categories. Reads the
-- sampled cohort through the `cohort` CTE the runner prepends. Only the index admission's codes
-- count: codes of other admissions describe other stays.
SELECT c.subject_id, d.hadm_id, d.icd_code, CAST(d.icd_version AS INT64) AS icd_version
FROM cohort AS c
JOIN `physionet-data.mimiciv_3_1_hosp.diagnoses_icd` AS d ON d.hadm_id = c.hadm_id
ORDER BY c.subject_id, d.hadm_id
