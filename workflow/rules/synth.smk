# Synthetic face videos with known physiology (the embedded demo dataset).


rule synth_video:
    input:
        photo=synth_photo,
    output:
        video=f"{RESULTS}/{{dataset}}/videos/s{{subject}}/{{condition}}.avi",
        ground_truth=f"{RESULTS}/{{dataset}}/videos/s{{subject}}/{{condition}}.csv",
    params:
        duration=lambda w: synth_setting(w, "duration_s"),
        fps=lambda w: synth_setting(w, "fps"),
        width=lambda w: synth_setting(w, "width"),
        height=lambda w: synth_setting(w, "height"),
        seed=config["seed"],
        scene=lambda w: synth_setting(w, "scene"),
        photo=lambda w, input: "".join(
            f"--photo={shlex.quote(str(path))} "
            for path in ([input.photo] if isinstance(input.photo, str) else input.photo)
        ),
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
        "--height={params.height} --seed={params.seed} --scene={params.scene} "
        "{params.photo}2> {log:q}"
