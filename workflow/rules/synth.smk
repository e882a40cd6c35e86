# Synthetic face videos with known physiology (the embedded demo dataset).


rule synth_video:
    output:
        video=f"{RESULTS}/{{dataset}}/videos/s{{subject}}/{{condition}}.avi",
        ground_truth=f"{RESULTS}/{{dataset}}/videos/s{{subject}}/{{condition}}.csv",
    params:
        duration=lambda w: synth_setting(w, "duration_s"),
        fps=lambda w: synth_setting(w, "fps"),
        width=lambda w: synth_setting(w, "width"),
        height=lambda w: synth_setting(w, "height"),
        seed=config["seed"],
    wildcard_constraints:
        subject=r"\d+",
        condition=r"[a-z_]+",
    log:
        f"{RESULTS}/logs/{{dataset}}/synth/s{{subject}}/{{condition}}.log",
    conda:
        "../../envs/distraction.yaml"
    shell:
        "distraction synth --video={output.video:q} --ground-truth={output.ground_truth:q} "
        "--subject={wildcards.subject} --condition={wildcards.condition} "
        "--duration={params.duration} --fps={params.fps} --width={params.width} "
        "--height={params.height} --seed={params.seed} 2> {log:q}"
