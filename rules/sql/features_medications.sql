-- Feature group "medications" (src/mmnar/data/feature_groups.py): prescription orders of the index
-- admission that start inside the observation window, one row per cohort patient (zeros without
-- orders). Known during the stay: an order exists from the moment it starts.
-- Drug classes are matched on the lower-cased drug name (MIMIC-IV's `prescriptions.drug`):
--   anticoagulant: heparin (not a line flush), enoxaparin, dalteparin, warfarin, apixaban,
--                  rivaroxaban, dabigatran, argatroban, bivalirudin, fondaparinux
--   insulin:       any insulin preparation
--   opioid:        morphine, hydromorphone, fentanyl, oxycodone, hydrocodone, methadone, tramadol,
--                  meperidine, codeine
--   vasopressor:   norepinephrine, epinephrine, vasopressin, phenylephrine, dopamine
--                  (vasopressors and inotropes as in the MIMIC-IV vasoactive concepts, dobutamine
--                  and milrinone included)
--   antibiotic:    the systemic antibacterials most used in MIMIC-IV ICUs (list below)
-- COUNTIF is wrapped in COALESCE: over a patient with no orders (all NULL after the LEFT JOIN)
-- BigQuery's COUNTIF gives 0 but DuckDB's COUNT_IF gives NULL.
WITH orders AS (
  SELECT c.subject_id, LOWER(p.drug) AS drug
  FROM cohort AS c
  JOIN `physionet-data.mimiciv_3_1_hosp.prescriptions` AS p ON p.hadm_id = c.hadm_id
  WHERE p.starttime >= c.window_start AND p.starttime <= c.window_end
    AND p.drug IS NOT NULL AND TRIM(p.drug) != ''
),
classified AS (
  SELECT subject_id, drug,
         REGEXP_CONTAINS(drug, 'heparin|enoxaparin|dalteparin|warfarin|apixaban|rivaroxaban|dabigatran|argatroban|bivalirudin|fondaparinux')
           AND NOT REGEXP_CONTAINS(drug, 'flush') AS anticoagulant,
         REGEXP_CONTAINS(drug, 'insulin') AS insulin,
         REGEXP_CONTAINS(drug, 'morphine|hydromorphone|fentanyl|oxycodone|hydrocodone|methadone|tramadol|meperidine|codeine') AS opioid,
         REGEXP_CONTAINS(drug, 'epinephrine|vasopressin|phenylephrine|dopamine|dobutamine|milrinone') AS vasopressor,
         REGEXP_CONTAINS(drug, 'vancomycin|cefepime|ceftriaxone|ceftazidime|cefazolin|cefuroxime|cefpodoxime|piperacillin|meropenem|ertapenem|imipenem|aztreonam|levofloxacin|ciprofloxacin|moxifloxacin|metronidazole|azithromycin|ampicillin|amoxicillin|nafcillin|clindamycin|linezolid|daptomycin|gentamicin|tobramycin|sulfamethoxazole|doxycycline') AS antibiotic
  FROM orders
)
SELECT c.subject_id,
       COUNT(o.drug) AS n_medication_orders,
       COUNT(DISTINCT o.drug) AS n_distinct_drugs,
       COALESCE(COUNTIF(o.anticoagulant), 0) AS n_anticoagulant_orders,
       COALESCE(COUNTIF(o.insulin), 0) AS n_insulin_orders,
       COALESCE(COUNTIF(o.opioid), 0) AS n_opioid_orders,
       COALESCE(COUNTIF(o.vasopressor), 0) AS n_vasopressor_orders,
       COALESCE(COUNTIF(o.antibiotic), 0) AS n_antibiotic_orders
FROM cohort AS c
LEFT JOIN classified AS o ON o.subject_id = c.subject_id
GROUP BY c.subject_id
ORDER BY c.subject_id
