"""mmnar-pipeline: multimodal EHR representations that treat modality missingness as signal."""

MODALITIES = ("S", "I", "T", "R")
"""Structured EHR, chest X-ray image, discharge summary, radiology reports — fixed order everywhere."""

TASKS = ("readmit_30d", "icu_90d", "mortality_inhosp")
"""Prediction targets, fixed order everywhere."""

__version__ = "0.1.0"
