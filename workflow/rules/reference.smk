# Reproduction mode: the authors' MMSE-HR sample evaluated exactly as their code did.


rule reference:
    input:
        sample=config["reference"]["sample"] or [],
        hr_lstm=config["reference"]["hr_lstm"] or [],
    output:
        report(f"{RESULTS}/reference/reference_table.csv", category="Reference reproduction"),
    params:
        hr_lstm=lambda w, input: f"--hr-lstm={shlex.quote(str(input.hr_lstm))}" if input.hr_lstm else "",
    log:
        f"{RESULTS}/logs/reference.log",
    conda:
        "../../envs/distraction.yaml"
    shell:
        "distraction reference --sample={input.sample:q} {params.hr_lstm} --output={output:q} 2> {log:q}"
