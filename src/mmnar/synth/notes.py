"""Discharge summaries and radiology reports in MIMIC-IV-Note's shape, worded by severity.

Texts keep the de-identification placeholders (`___`) and section headers of the real notes. The
wording is drawn from phrase banks picked by a noisy severity tier of the latent, so a text encoder
can recover the latent only approximately. A patient who died says so in the discharge summary —
realistic leakage that the docs and audit make visible.
"""

from __future__ import annotations

import random

import numpy as np
import pandas as pd

from mmnar.synth.timeline import DAY, HOUR, Timeline

COMPLAINTS = [
    ["chest pain", "abdominal pain", "fall", "syncope", "knee pain"],
    ["shortness of breath", "fever", "altered mental status", "GI bleed", "weakness"],
    ["respiratory failure", "septic shock", "hypotension", "unresponsiveness", "cardiac arrest"],
]
HISTORY = ["hypertension", "hyperlipidemia", "type 2 diabetes mellitus", "COPD", "CHF (EF 35%)",
           "atrial fibrillation on apixaban", "CKD stage III", "cirrhosis", "coronary artery disease s/p PCI",
           "obstructive sleep apnea", "depression", "hypothyroidism"]
COURSE = [
    ["The patient was monitored overnight in the ICU and remained hemodynamically stable.",
     "Symptoms resolved with supportive care and the patient tolerated a regular diet.",
     "Labs were notable only for mild abnormalities, which normalised by discharge."],
    ["The patient required supplemental oxygen and IV antibiotics, with gradual improvement.",
     "Creatinine rose on admission and improved with IV fluids.",
     "Course was complicated by delirium, managed with reorientation and sleep hygiene."],
    ["The patient was intubated for hypoxemic respiratory failure and required vasopressors.",
     "Lactate was elevated on arrival and the patient was treated for septic shock with broad-spectrum antibiotics.",
     "Course was complicated by acute kidney injury requiring CRRT and a new oxygen requirement."],
]
DIAGNOSES = [
    ["Chest pain, non-cardiac", "Syncope", "Hip fracture s/p ORIF"],
    ["Community acquired pneumonia", "CHF exacerbation", "Upper GI bleed"],
    ["Septic shock", "Acute hypoxemic respiratory failure", "Multiorgan failure"],
]
CONDITION = [
    "Mental Status: Clear and coherent.\nLevel of Consciousness: Alert and interactive.\nActivity Status: Ambulatory - Independent.",
    "Mental Status: Clear and coherent.\nLevel of Consciousness: Alert and interactive.\nActivity Status: Ambulatory - requires assistance or aid (walker or cane).",
    "Mental Status: Confused - sometimes.\nLevel of Consciousness: Lethargic but arousable.\nActivity Status: Bedbound.",
]
DISPOSITION = ["Home", "Home With Service", "Extended Care"]
LUNG_EXAM = ["Clear to auscultation bilaterally, no wheezes, rales, rhonchi",
             "Crackles at the bases bilaterally, no wheezes",
             "Coarse breath sounds throughout, diminished at the right base, on ventilator"]
CXR_FINDINGS = [
    ["The lungs are clear without focal consolidation, pleural effusion or pneumothorax.",
     "Heart size is normal. Mediastinal and hilar contours are unremarkable."],
    ["There is a patchy opacity in the right lower lobe, concerning for pneumonia.",
     "Small bilateral pleural effusions. Mild pulmonary vascular congestion."],
    ["Diffuse bilateral airspace opacities are worse compared to prior, consistent with ARDS or severe edema.",
     "Moderate bilateral pleural effusions with adjacent atelectasis. Endotracheal tube terminates 4 cm above the carina."],
]
CXR_IMPRESSION = ["No acute cardiopulmonary process.",
                  "Right lower lobe opacity, possibly pneumonia in the appropriate clinical setting.",
                  "Worsening diffuse bilateral opacities. Lines and tubes as above."]
OTHER_EXAMS = [
    ("CT HEAD W/O CONTRAST", "Non-contrast axial images of the head were obtained.",
     ["No acute intracranial hemorrhage or mass effect.", "Chronic small vessel ischemic changes. No acute process.",
      "Loss of gray-white differentiation concerning for hypoxic-ischemic injury."]),
    ("CT ABD & PELVIS WITH CONTRAST", "MDCT images were obtained through the abdomen and pelvis after IV contrast.",
     ["No acute intra-abdominal process.", "Mild colonic wall thickening, possibly colitis.",
      "Extensive bowel wall thickening with pneumatosis, concerning for ischemia."]),
]


def _severity_tier(text_rng: random.Random, latent: float) -> int:
    noisy = latent + text_rng.gauss(0, 0.5)
    return 0 if noisy < -0.5 else (1 if noisy < 0.7 else 2)


def discharge_text(text_rng: random.Random, latent: float, age: int, gender: str, died: bool) -> str:
    """A discharge summary with MIMIC-IV-Note's section headers and `___` placeholders."""
    tier = _severity_tier(text_rng, latent)
    complaint = text_rng.choice(COMPLAINTS[tier])
    history = text_rng.sample(HISTORY, k=1 + tier + text_rng.randint(0, 2))
    course = text_rng.sample(COURSE[tier], k=2) + ([text_rng.choice(COURSE[tier - 1])] if tier else [])
    if died:
        course.append("Despite maximal therapy the patient continued to deteriorate. After a family meeting, "
                      "goals of care were transitioned to comfort measures only. The patient expired on ___ at ___.")
    title, pronoun = ("Mr.", "man") if gender == "M" else ("Ms.", "woman")
    vitals = (f"T {97.6 + 0.6 * tier + text_rng.random():.1f} HR {int(75 + 12 * tier + text_rng.randint(0, 15))} "
              f"BP {int(135 - 12 * tier + text_rng.randint(-10, 10))}/{int(72 - 6 * tier + text_rng.randint(-8, 8))} "
              f"RR {16 + 3 * tier + text_rng.randint(0, 4)} O2 sat {99 - 2 * tier - text_rng.randint(0, 3)}% "
              f"{['RA', '2L NC', 'on vent'][tier]}")
    return "\n".join([
        " ",
        "Name:  ___                     Unit No:   ___",
        " ",
        "Admission Date:  ___              Discharge Date:   ___",
        " ",
        f"Date of Birth:  ___             Sex:   {gender}",
        " ",
        f"Service: {text_rng.choice(['MEDICINE', 'MEDICINE', 'SURGERY', 'CARDIOTHORACIC', 'NEUROLOGY'])}",
        " ",
        "Allergies: ",
        text_rng.choice(["No Known Allergies / Adverse Drug Reactions", "Penicillins", "Sulfa (Sulfonamide Antibiotics)"]),
        " ",
        "Attending: ___.",
        " ",
        "Chief Complaint:",
        complaint,
        " ",
        "Major Surgical or Invasive Procedure:",
        ["None", "PICC line placement", "Endotracheal intubation\nCentral venous catheter placement"][tier],
        " ",
        "History of Present Illness:",
        f"{title} ___ is a {age} y/o {pronoun} with {', '.join(history)} who presents with {complaint}. "
        f"Per ED report, symptoms started ___ days prior to admission.",
        " ",
        "Past Medical History:",
        "\n".join(f"- {item}" for item in history),
        " ",
        "Physical Exam:",
        "ADMISSION PHYSICAL EXAM:",
        f"VS: {vitals}",
        f"LUNGS: {LUNG_EXAM[tier]}",
        " ",
        "Brief Hospital Course:",
        " ".join(course),
        " ",
        "Discharge Disposition:",
        "Expired" if died else DISPOSITION[tier],
        " ",
        "Discharge Diagnosis:",
        text_rng.choice(DIAGNOSES[tier]),
        " ",
        "Discharge Condition:",
        "Expired" if died else CONDITION[tier],
        " ",
        "Followup Instructions:",
        "___",
    ])


def radiology_text(text_rng: random.Random, latent: float, gender: str) -> str:
    """A radiology report: mostly chest radiographs, some CTs, findings worded by severity."""
    tier = _severity_tier(text_rng, latent)
    pronoun = "man" if gender == "M" else "woman"
    if text_rng.random() < 0.7:
        exam, technique = text_rng.choice([("CHEST (PORTABLE AP)", "Portable AP chest radiograph."),
                                           ("CHEST (PA AND LAT)", "Chest PA and lateral.")])
        findings, impression = " ".join(CXR_FINDINGS[tier]), CXR_IMPRESSION[tier]
    else:
        exam, technique, impressions = text_rng.choice(OTHER_EXAMS)
        findings = impression = impressions[tier]
    return "\n".join([
        f"EXAMINATION:  {exam}",
        "",
        f"INDICATION:  ___ year old {pronoun} with {text_rng.choice(COMPLAINTS[tier])}  // eval for acute process",
        "",
        f"TECHNIQUE:  {technique}",
        "",
        f"COMPARISON:  {text_rng.choice(['___', 'None.', 'Chest radiograph from ___.'])}",
        "",
        "FINDINGS: ",
        "",
        findings,
        "",
        "IMPRESSION: ",
        "",
        impression,
    ])


def _sequence_ids(notes: pd.DataFrame, rng: np.random.Generator, code: str) -> pd.DataFrame:
    """note_seq counts a patient's notes in time order from a random start, as in the release."""
    notes = notes.sort_values(["subject_id", "charttime"], kind="stable", ignore_index=True)
    subjects = notes["subject_id"].unique()
    start = dict(zip(subjects.tolist(), rng.integers(1, 30, len(subjects))))
    notes["note_seq"] = notes["subject_id"].map(start) + notes.groupby("subject_id").cumcount()
    notes["note_id"] = notes["subject_id"].astype(str) + f"-{code}-" + notes["note_seq"].astype(str)
    notes["note_type"] = code
    return notes


def build_discharge_notes(rng: np.random.Generator, timeline: Timeline, age_at: pd.Series,
                          delta_text: pd.Series) -> pd.DataFrame:
    """A summary for every index admission with δ_T = 1 and for half of the other admissions.

    charttime is the discharge date at midnight and storetime comes after discharge, as in the
    release; the note belongs to its admission through hadm_id.
    """
    adm = timeline.admissions
    is_index = adm["role"].eq("index")
    keep = np.where(is_index, adm["subject_id"].map(delta_text).fillna(0).astype(bool), rng.random(len(adm)) < 0.5)
    chosen = adm[keep]
    gender = timeline.patients.set_index("subject_id")["gender"]
    text_rng = random.Random(int(rng.integers(2**62)))
    texts = [discharge_text(text_rng, row.latent, int(age_at[row.hadm_id]), gender[row.subject_id], bool(row.hospital_expire_flag))
             for row in chosen.itertuples()]
    notes = pd.DataFrame({
        "subject_id": chosen["subject_id"].to_numpy(), "hadm_id": chosen["hadm_id"].astype("Int64").to_numpy(),
        "charttime": chosen["dischtime"].to_numpy().astype("datetime64[D]").astype("datetime64[s]"),
        "storetime": chosen["dischtime"].to_numpy() + (rng.uniform(2, 40, len(chosen)) * HOUR).astype("timedelta64[s]"),
        "text": texts,
    })
    return _sequence_ids(notes, rng, "DS")


def build_radiology_notes(rng: np.random.Generator, timeline: Timeline, delta_radiology: pd.Series) -> pd.DataFrame:
    """Reports inside the index admission iff δ_R = 1, plus reports outside it for everyone.

    Inside the index admission 15 % lack hadm_id (match by subject and charttime); reports from the
    ED before admission and outpatient ones after discharge never carry one.
    """
    adm = timeline.admissions
    is_index = adm["role"].eq("index").to_numpy()
    observed = adm["subject_id"].map(delta_radiology).fillna(0).to_numpy().astype(bool)
    per_admission = np.where(is_index, observed * (1 + rng.binomial(2, 0.35, len(adm))), rng.random(len(adm)) < 0.4)
    inside = adm.loc[adm.index.repeat(per_admission)]
    span = (inside["dischtime"] - inside["admittime"]).dt.total_seconds().to_numpy()
    inside_times = inside["admittime"].to_numpy() + (rng.uniform(0.03, 0.97, len(inside)) * span).astype("timedelta64[s]")
    inside_hadm = inside["hadm_id"].astype("Int64").mask(rng.random(len(inside)) < 0.15)

    index = adm[is_index]
    ed = index[rng.random(len(index)) < 0.3]
    ed_times = ed["admittime"].to_numpy() - (rng.uniform(1, 6, len(ed)) * HOUR).astype("timedelta64[s]")
    survivors = index[index["hospital_expire_flag"].eq(0)]
    later = survivors[rng.random(len(survivors)) < 0.3]
    later_times = later["dischtime"].to_numpy() + (rng.uniform(2, 300, len(later)) * DAY).astype("timedelta64[s]")

    parts = [inside, ed, later]
    subjects = np.concatenate([p["subject_id"].to_numpy() for p in parts])
    latent = np.concatenate([p["latent"].to_numpy() for p in parts])
    gender = timeline.patients.set_index("subject_id")["gender"]
    text_rng = random.Random(int(rng.integers(2**62)))
    charttime = np.concatenate([inside_times, ed_times, later_times]).astype("datetime64[m]").astype("datetime64[s]")
    notes = pd.DataFrame({
        "subject_id": subjects,
        "hadm_id": pd.array(np.concatenate([inside_hadm.to_numpy(), np.full(len(ed) + len(later), pd.NA)]), dtype="Int64"),
        "charttime": charttime,
        "storetime": charttime + (rng.uniform(0.3, 12, len(charttime)) * HOUR).astype("timedelta64[s]"),
        "text": [radiology_text(text_rng, h, gender[s]) for s, h in zip(subjects.tolist(), latent.tolist())],
    })
    return _sequence_ids(notes, rng, "RR")
