-- Diagnosis features of the index admission, one row per cohort patient: how many ICD codes were
-- billed, and the Charlson comorbidity categories with their index. Reads the sampled cohort
-- through the `cohort` CTE the runner prepends; a patient whose index admission has no code keeps
-- a row of zeros.
--
-- Only the index admission's codes count (diagnoses_icd.hadm_id = cohort.hadm_id): MIMIC assigns
-- the codes at discharge, so they describe the whole stay, and codes of other admissions (earlier
-- or, worse, later ones) must not leak in.
--
-- Categories: the ICD-9-CM and ICD-10 coding algorithms of Quan H, Sundararajan V, Halfon P, et
-- al., "Coding algorithms for defining comorbidities in ICD-9-CM and ICD-10 administrative data",
-- Med Care 2005;43(11):1130-9 (Enhanced ICD-9-CM and ICD-10 columns), as implemented for MIMIC-IV
-- by MIT-LCP mimic-code, mimic-iv/concepts/comorbidity/charlson.sql. MIMIC stores codes without
-- the dot, so "428.x" is the prefix '428' and "425.4-425.9" the 4-character prefixes '4254'..'4259'.
-- A code is matched only against the list of its own ICD version: ICD-9 V42.0 (kidney transplant)
-- and ICD-10 V42.0 (a motorcycle accident) share the dot-less text 'V420'. Quan's ICD-10 lists name
-- WHO ICD-10 codes and are applied to MIMIC's ICD-10-CM codes as they stand: an ICD-10-CM subcode
-- matches its WHO parent (Z95.810, a defibrillator, is under Z95.8: peripheral vascular disease),
-- and codes that exist only in ICD-10-CM match nothing (E08/E09 secondary diabetes, I85.1x
-- secondary varices, C7A/C7B neuroendocrine tumours, C4A Merkel cell carcinoma). All agree with
-- the mimic-code query except C4A, which its text range 'C45'..'C58' takes in as a malignancy.
--
-- charlson_comorbidity_index uses the weights of the mimic-code query (those of Charlson et al.,
-- J Chronic Dis 1987;40:373-83): 1 each for myocardial infarction, congestive heart failure,
-- peripheral vascular, cerebrovascular, dementia, chronic pulmonary, rheumatic, peptic ulcer, mild
-- liver disease and diabetes without chronic complication; 2 for diabetes with chronic
-- complication, hemi/paraplegia, renal disease and any malignancy; 3 for moderate or severe liver
-- disease; 6 for metastatic solid tumour and AIDS. Within each pair (mild/severe liver, diabetes
-- without/with complication, malignancy/metastatic tumour) only the heavier weight counts; the
-- 0/1 category columns themselves are left as coded. The index has NO age component: age is a
-- separate feature of the model, so adding it here would count it twice.
WITH index_codes AS (
  SELECT c.subject_id,
         CAST(d.icd_version AS INT64) AS icd_version,
         UPPER(TRIM(CAST(d.icd_code AS STRING))) AS icd_code
  FROM cohort AS c
  JOIN `physionet-data.mimiciv_3_1_hosp.diagnoses_icd` AS d ON d.hadm_id = c.hadm_id
),
versioned AS (
  SELECT subject_id, icd_version, icd_code,
         IF(icd_version = 9, icd_code, NULL) AS icd9,
         IF(icd_version = 10, icd_code, NULL) AS icd10,
         -- The ICD-10 category, only when it is a letter and two digits: ICD-10-CM added categories
         -- such as C4A (Merkel cell), C7A and C7B (neuroendocrine tumours) that sort between the
         -- digit categories, so the text range 'C77'..'C80' would take C7A and C7B in unasked.
         IF(REGEXP_CONTAINS(icd_code, r'^[A-Z][0-9]{2}') AND icd_version = 10,
            SUBSTR(icd_code, 1, 3), NULL) AS icd10_3
  FROM index_codes
),
-- One row per code, one 0/1 flag per category (a NULL comparison, for the other version, is false).
flagged AS (
  SELECT subject_id, icd_version, icd_code,
    -- Myocardial infarction. ICD-9: 410.x, 412.x. ICD-10: I21.x, I22.x, I25.2.
    IF(SUBSTR(icd9, 1, 3) IN ('410', '412')
       OR icd10_3 IN ('I21', 'I22')
       OR SUBSTR(icd10, 1, 4) = 'I252', 1, 0) AS mi,
    -- Congestive heart failure. ICD-9: 398.91, 402.01, 402.11, 402.91, 404.01, 404.03, 404.11,
    -- 404.13, 404.91, 404.93, 425.4-425.9, 428.x. ICD-10: I09.9, I11.0, I13.0, I13.2, I25.5,
    -- I42.0, I42.5-I42.9, I43.x, I50.x, P29.0.
    IF(SUBSTR(icd9, 1, 3) = '428'
       OR SUBSTR(icd9, 1, 4) BETWEEN '4254' AND '4259'
       OR SUBSTR(icd9, 1, 5) IN ('39891', '40201', '40211', '40291', '40401', '40403', '40411',
                                 '40413', '40491', '40493')
       OR icd10_3 IN ('I43', 'I50')
       OR SUBSTR(icd10, 1, 4) IN ('I099', 'I110', 'I130', 'I132', 'I255', 'I420', 'P290')
       OR SUBSTR(icd10, 1, 4) BETWEEN 'I425' AND 'I429', 1, 0) AS chf,
    -- Peripheral vascular disease. ICD-9: 093.0, 437.3, 440.x, 441.x, 443.1-443.9, 447.1, 557.1,
    -- 557.9, V43.4. ICD-10: I70.x, I71.x, I73.1, I73.8, I73.9, I77.1, I79.0, I79.2, K55.1, K55.8,
    -- K55.9, Z95.8, Z95.9.
    IF(SUBSTR(icd9, 1, 3) IN ('440', '441')
       OR SUBSTR(icd9, 1, 4) IN ('0930', '4373', '4471', '5571', '5579', 'V434')
       OR SUBSTR(icd9, 1, 4) BETWEEN '4431' AND '4439'
       OR icd10_3 IN ('I70', 'I71')
       OR SUBSTR(icd10, 1, 4) IN ('I731', 'I738', 'I739', 'I771', 'I790', 'I792', 'K551', 'K558',
                                  'K559', 'Z958', 'Z959'), 1, 0) AS pvd,
    -- Cerebrovascular disease. ICD-9: 362.34, 430.x-438.x. ICD-10: G45.x, G46.x, H34.0, I60.x-I69.x.
    IF(SUBSTR(icd9, 1, 3) BETWEEN '430' AND '438'
       OR SUBSTR(icd9, 1, 5) = '36234'
       OR icd10_3 IN ('G45', 'G46')
       OR icd10_3 BETWEEN 'I60' AND 'I69'
       OR SUBSTR(icd10, 1, 4) = 'H340', 1, 0) AS cvd,
    -- Dementia. ICD-9: 290.x, 294.1, 331.2. ICD-10: F00.x-F03.x, F05.1, G30.x, G31.1.
    IF(SUBSTR(icd9, 1, 3) = '290'
       OR SUBSTR(icd9, 1, 4) IN ('2941', '3312')
       OR icd10_3 IN ('F00', 'F01', 'F02', 'F03', 'G30')
       OR SUBSTR(icd10, 1, 4) IN ('F051', 'G311'), 1, 0) AS dementia,
    -- Chronic pulmonary disease. ICD-9: 416.8, 416.9, 490.x-505.x, 506.4, 508.1, 508.8.
    -- ICD-10: I27.8, I27.9, J40.x-J47.x, J60.x-J67.x, J68.4, J70.1, J70.3.
    IF(SUBSTR(icd9, 1, 3) BETWEEN '490' AND '505'
       OR SUBSTR(icd9, 1, 4) IN ('4168', '4169', '5064', '5081', '5088')
       OR icd10_3 BETWEEN 'J40' AND 'J47'
       OR icd10_3 BETWEEN 'J60' AND 'J67'
       OR SUBSTR(icd10, 1, 4) IN ('I278', 'I279', 'J684', 'J701', 'J703'), 1, 0) AS cpd,
    -- Rheumatic disease. ICD-9: 446.5, 710.0-710.4, 714.0-714.2, 714.8, 725.x.
    -- ICD-10: M05.x, M06.x, M31.5, M32.x-M34.x, M35.1, M35.3, M36.0.
    IF(SUBSTR(icd9, 1, 3) = '725'
       OR SUBSTR(icd9, 1, 4) IN ('4465', '7148')
       OR SUBSTR(icd9, 1, 4) BETWEEN '7100' AND '7104'
       OR SUBSTR(icd9, 1, 4) BETWEEN '7140' AND '7142'
       OR icd10_3 IN ('M05', 'M06', 'M32', 'M33', 'M34')
       OR SUBSTR(icd10, 1, 4) IN ('M315', 'M351', 'M353', 'M360'), 1, 0) AS rheumatic,
    -- Peptic ulcer disease. ICD-9: 531.x-534.x. ICD-10: K25.x-K28.x.
    IF(SUBSTR(icd9, 1, 3) BETWEEN '531' AND '534'
       OR icd10_3 BETWEEN 'K25' AND 'K28', 1, 0) AS peptic_ulcer,
    -- Mild liver disease. ICD-9: 070.22, 070.23, 070.32, 070.33, 070.44, 070.54, 070.6, 070.9,
    -- 570.x, 571.x, 573.3, 573.4, 573.8, 573.9, V42.7. ICD-10: B18.x, K70.0-K70.3, K70.9,
    -- K71.3-K71.5, K71.7, K73.x, K74.x, K76.0, K76.2-K76.4, K76.8, K76.9, Z94.4.
    IF(SUBSTR(icd9, 1, 3) IN ('570', '571')
       OR SUBSTR(icd9, 1, 4) IN ('0706', '0709', '5733', '5734', '5738', '5739', 'V427')
       OR SUBSTR(icd9, 1, 5) IN ('07022', '07023', '07032', '07033', '07044', '07054')
       OR icd10_3 IN ('B18', 'K73', 'K74')
       OR SUBSTR(icd10, 1, 4) BETWEEN 'K700' AND 'K703'
       OR SUBSTR(icd10, 1, 4) BETWEEN 'K713' AND 'K715'
       OR SUBSTR(icd10, 1, 4) BETWEEN 'K762' AND 'K764'
       OR SUBSTR(icd10, 1, 4) IN ('K709', 'K717', 'K760', 'K768', 'K769', 'Z944'), 1, 0) AS mild_liver,
    -- Diabetes without chronic complication. ICD-9: 250.0-250.3, 250.8, 250.9.
    -- ICD-10: E10.0, E10.1, E10.6, E10.8, E10.9, and the same for E11, E12, E13, E14.
    IF(SUBSTR(icd9, 1, 4) IN ('2500', '2501', '2502', '2503', '2508', '2509')
       OR (icd10_3 IN ('E10', 'E11', 'E12', 'E13', 'E14')
           AND SUBSTR(icd10, 4, 1) IN ('0', '1', '6', '8', '9')), 1, 0) AS diabetes,
    -- Diabetes with chronic complication. ICD-9: 250.4-250.7.
    -- ICD-10: E10.2-E10.5, E10.7, and the same for E11, E12, E13, E14.
    IF(SUBSTR(icd9, 1, 4) IN ('2504', '2505', '2506', '2507')
       OR (icd10_3 IN ('E10', 'E11', 'E12', 'E13', 'E14')
           AND SUBSTR(icd10, 4, 1) IN ('2', '3', '4', '5', '7')), 1, 0) AS diabetes_cc,
    -- Hemiplegia or paraplegia. ICD-9: 334.1, 342.x, 343.x, 344.0-344.6, 344.9.
    -- ICD-10: G04.1, G11.4, G80.1, G80.2, G81.x, G82.x, G83.0-G83.4, G83.9.
    IF(SUBSTR(icd9, 1, 3) IN ('342', '343')
       OR SUBSTR(icd9, 1, 4) IN ('3341', '3449')
       OR SUBSTR(icd9, 1, 4) BETWEEN '3440' AND '3446'
       OR icd10_3 IN ('G81', 'G82')
       OR SUBSTR(icd10, 1, 4) IN ('G041', 'G114', 'G801', 'G802', 'G839')
       OR SUBSTR(icd10, 1, 4) BETWEEN 'G830' AND 'G834', 1, 0) AS paraplegia,
    -- Renal disease. ICD-9: 403.01, 403.11, 403.91, 404.02, 404.03, 404.12, 404.13, 404.92,
    -- 404.93, 582.x, 583.0-583.7, 585.x, 586.x, 588.0, V42.0, V45.1, V56.x. ICD-10: I12.0, I13.1,
    -- N03.2-N03.7, N05.2-N05.7, N18.x, N19.x, N25.0, Z49.0-Z49.2, Z94.0, Z99.2.
    IF(SUBSTR(icd9, 1, 3) IN ('582', '585', '586', 'V56')
       OR SUBSTR(icd9, 1, 4) IN ('5880', 'V420', 'V451')
       OR SUBSTR(icd9, 1, 4) BETWEEN '5830' AND '5837'
       OR SUBSTR(icd9, 1, 5) IN ('40301', '40311', '40391', '40402', '40403', '40412', '40413',
                                 '40492', '40493')
       OR icd10_3 IN ('N18', 'N19')
       OR SUBSTR(icd10, 1, 4) IN ('I120', 'I131', 'N250', 'Z940', 'Z992')
       OR SUBSTR(icd10, 1, 4) BETWEEN 'N032' AND 'N037'
       OR SUBSTR(icd10, 1, 4) BETWEEN 'N052' AND 'N057'
       OR SUBSTR(icd10, 1, 4) BETWEEN 'Z490' AND 'Z492', 1, 0) AS renal,
    -- Any malignancy, including lymphoma and leukaemia, except malignant neoplasm of skin.
    -- ICD-9: 140.x-172.x, 174.x-195.8, 200.x-208.x, 238.6. ICD-10: C00.x-C26.x, C30.x-C34.x,
    -- C37.x-C41.x, C43.x, C45.x-C58.x, C60.x-C76.x, C81.x-C85.x, C88.x, C90.x-C97.x.
    IF(SUBSTR(icd9, 1, 3) BETWEEN '140' AND '172'
       OR SUBSTR(icd9, 1, 4) BETWEEN '1740' AND '1958'
       OR SUBSTR(icd9, 1, 3) BETWEEN '200' AND '208'
       OR SUBSTR(icd9, 1, 4) = '2386'
       OR icd10_3 IN ('C43', 'C88')
       OR icd10_3 BETWEEN 'C00' AND 'C26'
       OR icd10_3 BETWEEN 'C30' AND 'C34'
       OR icd10_3 BETWEEN 'C37' AND 'C41'
       OR icd10_3 BETWEEN 'C45' AND 'C58'
       OR icd10_3 BETWEEN 'C60' AND 'C76'
       OR icd10_3 BETWEEN 'C81' AND 'C85'
       OR icd10_3 BETWEEN 'C90' AND 'C97', 1, 0) AS malignancy,
    -- Moderate or severe liver disease. ICD-9: 456.0-456.2, 572.2-572.8.
    -- ICD-10: I85.0, I85.9, I86.4, I98.2, K70.4, K71.1, K72.1, K72.9, K76.5, K76.6, K76.7.
    IF(SUBSTR(icd9, 1, 4) BETWEEN '4560' AND '4562'
       OR SUBSTR(icd9, 1, 4) BETWEEN '5722' AND '5728'
       OR SUBSTR(icd10, 1, 4) IN ('I850', 'I859', 'I864', 'I982', 'K704', 'K711', 'K721', 'K729')
       OR SUBSTR(icd10, 1, 4) BETWEEN 'K765' AND 'K767', 1, 0) AS severe_liver,
    -- Metastatic solid tumour. ICD-9: 196.x-199.x. ICD-10: C77.x-C80.x.
    IF(SUBSTR(icd9, 1, 3) BETWEEN '196' AND '199'
       OR icd10_3 BETWEEN 'C77' AND 'C80', 1, 0) AS metastatic,
    -- AIDS/HIV. ICD-9: 042.x-044.x. ICD-10: B20.x-B22.x, B24.x.
    IF(SUBSTR(icd9, 1, 3) IN ('042', '043', '044')
       OR icd10_3 IN ('B20', 'B21', 'B22', 'B24'), 1, 0) AS aids
  FROM versioned
),
per_patient AS (
  SELECT subject_id,
         COUNT(*) AS n_diagnoses,
         COUNT(DISTINCT CONCAT(CAST(icd_version AS STRING), ':', icd_code)) AS n_distinct_diagnoses,
         MAX(mi) AS mi, MAX(chf) AS chf, MAX(pvd) AS pvd, MAX(cvd) AS cvd, MAX(dementia) AS dementia,
         MAX(cpd) AS cpd, MAX(rheumatic) AS rheumatic, MAX(peptic_ulcer) AS peptic_ulcer,
         MAX(mild_liver) AS mild_liver, MAX(diabetes) AS diabetes, MAX(diabetes_cc) AS diabetes_cc,
         MAX(paraplegia) AS paraplegia, MAX(renal) AS renal, MAX(malignancy) AS malignancy,
         MAX(severe_liver) AS severe_liver, MAX(metastatic) AS metastatic, MAX(aids) AS aids
  FROM flagged
  GROUP BY subject_id
),
-- Every cohort patient, with zeros where the index admission has no code at all.
categories AS (
  SELECT c.subject_id,
         CAST(COALESCE(p.n_diagnoses, 0) AS INT64) AS n_diagnoses,
         CAST(COALESCE(p.n_distinct_diagnoses, 0) AS INT64) AS n_distinct_diagnoses,
         CAST(COALESCE(p.mi, 0) AS INT64) AS charlson_myocardial_infarction,
         CAST(COALESCE(p.chf, 0) AS INT64) AS charlson_congestive_heart_failure,
         CAST(COALESCE(p.pvd, 0) AS INT64) AS charlson_peripheral_vascular_disease,
         CAST(COALESCE(p.cvd, 0) AS INT64) AS charlson_cerebrovascular_disease,
         CAST(COALESCE(p.dementia, 0) AS INT64) AS charlson_dementia,
         CAST(COALESCE(p.cpd, 0) AS INT64) AS charlson_chronic_pulmonary_disease,
         CAST(COALESCE(p.rheumatic, 0) AS INT64) AS charlson_rheumatic_disease,
         CAST(COALESCE(p.peptic_ulcer, 0) AS INT64) AS charlson_peptic_ulcer_disease,
         CAST(COALESCE(p.mild_liver, 0) AS INT64) AS charlson_mild_liver_disease,
         CAST(COALESCE(p.diabetes, 0) AS INT64) AS charlson_diabetes_without_cc,
         CAST(COALESCE(p.diabetes_cc, 0) AS INT64) AS charlson_diabetes_with_cc,
         CAST(COALESCE(p.paraplegia, 0) AS INT64) AS charlson_paraplegia,
         CAST(COALESCE(p.renal, 0) AS INT64) AS charlson_renal_disease,
         CAST(COALESCE(p.malignancy, 0) AS INT64) AS charlson_malignant_cancer,
         CAST(COALESCE(p.severe_liver, 0) AS INT64) AS charlson_severe_liver_disease,
         CAST(COALESCE(p.metastatic, 0) AS INT64) AS charlson_metastatic_solid_tumor,
         CAST(COALESCE(p.aids, 0) AS INT64) AS charlson_aids
  FROM cohort AS c
  LEFT JOIN per_patient AS p ON p.subject_id = c.subject_id
)
SELECT *,
       CAST(charlson_myocardial_infarction + charlson_congestive_heart_failure
            + charlson_peripheral_vascular_disease + charlson_cerebrovascular_disease
            + charlson_dementia + charlson_chronic_pulmonary_disease
            + charlson_rheumatic_disease + charlson_peptic_ulcer_disease
            + GREATEST(charlson_mild_liver_disease, 3 * charlson_severe_liver_disease)
            + GREATEST(charlson_diabetes_without_cc, 2 * charlson_diabetes_with_cc)
            + 2 * charlson_paraplegia + 2 * charlson_renal_disease
            + GREATEST(2 * charlson_malignant_cancer, 6 * charlson_metastatic_solid_tumor)
            + 6 * charlson_aids AS INT64) AS charlson_comorbidity_index
FROM categories
ORDER BY subject_id
