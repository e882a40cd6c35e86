# Evaluation per video and the aggregate reports.


rule evaluate:
    input:
        prepared=group_file("prepared"),
        corruption=group_file("corruption_{task}"),
        denoised=group_file("denoised_{task}"),
    output:
        windows=f"{RESULTS}/{{dataset}}/eval/{{task}}/{{recording}}.csv",
        status=f"{RESULTS}/{{dataset}}/status/{{task}}/{{recording}}.csv",
    params:
        store=lambda w: store_path(w.dataset, w.recording),
        settings=lambda w: settings_json(w.task, "conditioning", "evaluation", "seed"),
        retry=retry("evaluate_{task}"),
    log:
        f"{RESULTS}/logs/{{dataset}}/evaluate_{{task}}/{{recording}}.log",
    conda:
        "../../envs/distraction.yaml"
    shell:
        "distraction evaluate --store={params.store:q} --task={wildcards.task} "
        "--output={output.windows:q} --status={output.status:q} "
        "--settings={params.settings:q} --record-failures 2> {log:q}"


rule figures:
    input:
        prepared=group_file("prepared"),
        can=group_file("can_{task}"),
        corruption=group_file("corruption_{task}"),
        denoised=group_file("denoised_{task}"),
    output:
        triptych=report(
            f"{RESULTS}/reports/figures/{{dataset}}/{{recording}}.{{task}}.masks.png",
            caption="../report/triptych.rst",
            category="Example figures",
        ),
        waveforms=report(
            f"{RESULTS}/reports/figures/{{dataset}}/{{recording}}.{{task}}.waveforms.png",
            caption="../report/waveforms.rst",
            category="Example figures",
        ),
    params:
        store=lambda w: store_path(w.dataset, w.recording),
        retry=retry("figures_{task}"),
    log:
        f"{RESULTS}/logs/{{dataset}}/figures_{{task}}/{{recording}}.log",
    conda:
        "../../envs/distraction.yaml"
    shell:
        "distraction figures --store={params.store:q} --task={wildcards.task} "
        "--triptych={output.triptych:q} --waveforms={output.waveforms:q} --record-failures "
        "2> {log:q}"


# A video the workflow cannot carry (its name, a dangling link, a linked folder): a failed
# status row naming the file, so the run goes on and the report lists it.
rule refused:
    output:
        f"{RESULTS}/{{dataset}}/refused/{{task}}/{{key}}.csv",
    params:
        recording=refused_setting("recording"),
        source=refused_setting("source"),
        problem=refused_setting("problem"),
    log:
        f"{RESULTS}/logs/{{dataset}}/refused_{{task}}/{{key}}.log",
    conda:
        "../../envs/distraction.yaml"
    shell:
        "distraction refused --dataset={wildcards.dataset:q} --recording={params.recording:q} "
        "--source={params.source:q} --problem={params.problem:q} --task={wildcards.task} "
        "--status={output:q} 2> {log:q}"


rule aggregate:
    input:
        evaluations=evaluation_files,
        statuses=status_files,
    output:
        windows=report(f"{RESULTS}/reports/windows.csv", category="Tables"),
        videos=report(f"{RESULTS}/reports/videos.csv", category="Tables"),
        summary=report(f"{RESULTS}/reports/summary.csv", caption="../report/summary.rst", category="Tables"),
        by_recording_task=report(
            f"{RESULTS}/reports/summary_by_recording_task.csv",
            caption="../report/summary.rst",
            category="Tables",
        ),
        comparisons=report(
            f"{RESULTS}/reports/comparisons.csv",
            caption="../report/comparisons.rst",
            category="Tables",
        ),
        failures=report(
            f"{RESULTS}/reports/failures.csv", caption="../report/failures.rst", category="Tables"
        ),
        # One plot per task with ground truth (none without it).
        agreement=report(
            directory(f"{RESULTS}/reports/agreement"),
            patterns=["{name}.png"],
            caption="../report/agreement.rst",
            category="Agreement",
        ),
    params:
        outdir=lambda w, output: os.path.dirname(output.summary),
    log:
        f"{RESULTS}/logs/aggregate.log",
    conda:
        "../../envs/distraction.yaml"
    shell:
        "distraction aggregate --outdir={params.outdir:q} --inputs {input.evaluations:q} "
        "--statuses {input.statuses:q} 2> {log:q}"


# Per video, without ground truth: the rate over time in short sliding windows with a
# quality index per window (no rate where it is too low or the face is gone), the
# waveforms, and for HR the HRV (timeline_hr: the same rule with the HRV table).
rule timeline:
    input:
        prepared=group_file("prepared"),
        corruption=group_file("corruption_{task}"),
        denoised=group_file("denoised_{task}"),
    output:
        rates=report(
            f"{RESULTS}/{{dataset}}/timeline/{{task}}/{{recording}}.rates.csv",
            caption="../report/timeline.rst",
            category="Timelines",
        ),
        waveforms=f"{RESULTS}/{{dataset}}/timeline/{{task}}/{{recording}}.waveforms.csv",
        figure=report(
            f"{RESULTS}/{{dataset}}/timeline/{{task}}/{{recording}}.rates.png",
            caption="../report/timeline.rst",
            category="Timelines",
        ),
    wildcard_constraints:
        task="br",
    params:
        store=lambda w: store_path(w.dataset, w.recording),
        settings=lambda w: settings_json(w.task, "conditioning", "timeline"),
        # --hrv for an HR timeline (timeline_hr), whose outputs include the HRV table.
        hrv=lambda w, output: f"--hrv={shlex.quote(output.hrv)}" if "hrv" in output.keys() else "",
        retry=retry("timeline_{task}"),
    log:
        f"{RESULTS}/logs/{{dataset}}/timeline_{{task}}/{{recording}}.log",
    conda:
        "../../envs/distraction.yaml"
    shell:
        "distraction timeline --store={params.store:q} --task={wildcards.task} "
        "--rates={output.rates:q} --waveforms={output.waveforms:q} {params.hrv} "
        "--figure={output.figure:q} --settings={params.settings:q} --record-failures 2> {log:q}"


use rule timeline as timeline_hr with:
    output:
        rates=report(
            f"{RESULTS}/{{dataset}}/timeline/{{task}}/{{recording}}.rates.csv",
            caption="../report/timeline.rst",
            category="Timelines",
        ),
        waveforms=f"{RESULTS}/{{dataset}}/timeline/{{task}}/{{recording}}.waveforms.csv",
        figure=report(
            f"{RESULTS}/{{dataset}}/timeline/{{task}}/{{recording}}.rates.png",
            caption="../report/timeline.rst",
            category="Timelines",
        ),
        hrv=f"{RESULTS}/{{dataset}}/timeline/{{task}}/{{recording}}.hrv.csv",
    wildcard_constraints:
        task="hr",


# The headline: one row per video and task (median rate and quality, HRV, or why there is
# none), printed where a run ends.
rule estimates:
    input:
        statuses=status_files,
        rates=lambda w: timeline_files("rates.csv"),
        hrv=lambda w: timeline_files("hrv.csv"),
    output:
        report(f"{RESULTS}/reports/estimates.csv", caption="../report/estimates.rst", category="Tables"),
    log:
        f"{RESULTS}/logs/estimates.log",
    conda:
        "../../envs/distraction.yaml"
    shell:
        "distraction estimates --output={output:q} --statuses {input.statuses:q} "
        "--rates {input.rates:q} --hrv {input.hrv:q} 2> {log:q}"


# report.max_failed_fraction (for CI): a job of its own, so that its failure leaves the
# aggregate's reports in place (Snakemake removes the outputs of a failed job).


rule check_failures:
    input:
        statuses=status_files,
        failures=f"{RESULTS}/reports/failures.csv",
    output:
        f"{RESULTS}/reports/failure_check.txt",
    params:
        max_failed=config["report"]["max_failed_fraction"],
    log:
        f"{RESULTS}/logs/check_failures.log",
    conda:
        "../../envs/distraction.yaml"
    shell:
        "distraction check-failures --max-failed-fraction={params.max_failed} "
        "--failures={input.failures:q} --output={output:q} --statuses {input.statuses:q} 2> {log:q}"
