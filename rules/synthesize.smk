# The embedded default: a synthetic cohort written in the exact PhysioNet layout.


rule synthesize:
    input:
        code=code("synthesize"),
    output:
        manifest=f"{SYNTHETIC_DIR}/manifest.json",
        ground_truth=f"{SYNTHETIC_DIR}/ground_truth.parquet",
    log:
        "logs/synthesize.log",
    params:
        n_patients=config["synthetic"]["n_patients"],
        seed=config["synthetic"]["seed"],
        mechanism=config["synthetic"]["mechanism"],
        direct_effect=config["synthetic"]["direct_effect"],
        hidden_strength=config["synthetic"]["hidden_strength"],
        image_size=config["synthetic"]["image_size"],
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../envs/embed.yaml"
    script:
        "../workflow/scripts/synthesize.py"
