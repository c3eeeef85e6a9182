# What the extraction and embedding stages had to leave out, merged into one report, and the limit
# that stops a run whose inputs are damaged beyond what skipping can absorb.

QUALITY_REPORTS = [
    "data/quality/extract_cohort.json",
    "data/quality/extract_structured.json",
    "data/quality/extract_notes_discharge.json",
    "data/quality/extract_notes_radiology.json",
    "data/quality/extract_cxr.json",
    "data/quality/embed_image.json",
    *expand("data/quality/extract_features_{group}.json", group=SQL_FEATURE_GROUPS),
]


rule data_quality:
    input:
        reports=QUALITY_REPORTS,
        code=code("data_quality"),
    output:
        listing=report("results/data_quality.csv", caption="../workflow/report/data_quality.rst", category="Data quality"),
        summary="results/data_quality_summary.csv",
    log:
        "logs/data_quality.log",
    params:
        max_bad_fraction=config["quality"]["max_bad_fraction"],
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../envs/train.yaml"
    script:
        "../workflow/scripts/data_quality.py"
