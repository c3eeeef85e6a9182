-- Discharge summaries of the index admission. Only the 'paper' window includes them: the summary
-- is written at discharge, after any early prediction time.
SELECT c.subject_id, n.note_id, n.charttime, n.text
FROM cohort AS c
JOIN `physionet-data.mimiciv_note.discharge` AS n ON n.hadm_id = c.hadm_id
WHERE @window = 'paper'
ORDER BY c.subject_id, n.charttime, n.note_id
