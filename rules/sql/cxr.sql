-- CXR linkage (DrFuse/MedFuse rule): frontal (AP/PA) studies inside the window, the latest one per
-- stay. MIMIC-CXR-JPG is not in BigQuery, so this always runs locally against the sampled cohort.
WITH studies AS (
  SELECT m.dicom_id, m.subject_id, m.study_id, m.ViewPosition,
         DATETIME_ADD(DATETIME(PARSE_DATE('%Y%m%d', CAST(m.StudyDate AS STRING))),
                      INTERVAL DIV(CAST(FLOOR(m.StudyTime) AS INT64), 10000) * 3600
                             + MOD(DIV(CAST(FLOOR(m.StudyTime) AS INT64), 100), 100) * 60
                             + MOD(CAST(FLOOR(m.StudyTime) AS INT64), 100) SECOND) AS study_datetime
  FROM `physionet-data.mimic_cxr_jpg.metadata` AS m
  WHERE m.ViewPosition IN ('AP', 'PA')
)
SELECT c.subject_id, s.study_id, s.dicom_id, s.study_datetime
FROM cohort AS c
JOIN studies AS s ON s.subject_id = c.subject_id
WHERE s.study_datetime >= c.window_start AND s.study_datetime <= c.window_end
QUALIFY ROW_NUMBER() OVER (PARTITION BY c.stay_id ORDER BY s.study_datetime DESC, s.dicom_id) = 1
ORDER BY c.subject_id
