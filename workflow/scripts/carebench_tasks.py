"""Snakemake adapter: the Table 1 of CareBench's tasks (the nested run's) copied into results/."""
from mmnar.logs import to_file
from mmnar.nested import copy_table

to_file(snakemake.log[0])
i, o = snakemake.input, snakemake.output
copy_table([i.csv, i.md, i.tex], [o.csv, o.md, o.tex])
