# distraction: camera-based HR/BR with inverse-attention denoising.
# Thin entry point: config + schema validation, rule includes, and the default target.
from snakemake.utils import min_version

min_version("9.0")


# A --configfile replaces config.yaml rather than merging into it, so its datasets stand
# alone; --config KEY=VALUE still overrides keys of config.yaml.
if not workflow.overwrite_configfiles:

    configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/jobserver.smk"
include: "workflow/rules/synth.smk"
include: "workflow/rules/prepare.smk"
include: "workflow/rules/networks.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/reference.smk"


rule all:
    input:
        all_targets(),
    default_target: True
