-- Radiology reports charted inside the window: those of the index admission and those without an
-- hadm_id (ordered before the admission was registered) for the same patient.
SELECT c.subject_id, n.note_id, n.charttime, n.text
FROM cohort AS c
JOIN `physionet-data.mimiciv_note.radiology` AS n ON n.subject_id = c.subject_id
WHERE (n.hadm_id = c.hadm_id OR n.hadm_id IS NULL)
  AND n.charttime >= c.window_start AND n.charttime <= c.window_end
ORDER BY c.subject_id, n.charttime, n.note_id
