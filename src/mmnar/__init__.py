"""mmnar-pipeline: multimodal EHR representations that treat modality missingness as signal.

Layers, imports pointing down only: ``data`` (sources, SQL, cohort, tasks, splits, quality) →
``modalities`` (registry, extractors, encoders, cache) → ``model_input`` (δ, arrays, series
preprocessing) → ``models`` (contract, registry, one module per model) → ``training`` (trainer,
predict) → ``rectifier`` → ``evaluation`` → ``reporting``. ``config`` checks a run before any job;
``synth`` writes the synthetic cohort in PhysioNet layout.
"""

__version__ = "0.1.0"
