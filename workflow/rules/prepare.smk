# Frame extraction: one job per video, writing the 'prepared' group of its Zarr store.


rule prepare:
    input:
        unpack(source_of),
    output:
        directory(f"{RESULTS}/{{dataset}}/stores/{{recording}}.zarr/prepared"),
    params:
        format=lambda w: config["datasets"][w.dataset]["format"],
        root=lambda w: dataset_root(w.dataset),
        store=lambda w: store_path(w.dataset, w.recording),
        crop=config["prepare"]["crop"],
        chunk_frames=config["prepare"]["chunk_frames"],
    threads: 2
    log:
        f"{RESULTS}/logs/{{dataset}}/prepare/{{recording}}.log",
    conda:
        "../../envs/distraction.yaml"
    shell:
        "distraction prepare --format={params.format} --root={params.root:q} "
        "--dataset={wildcards.dataset:q} --recording={wildcards.recording:q} "
        "--store={params.store:q} --crop={params.crop} --chunk-frames={params.chunk_frames} "
        "--threads={threads} --record-failures "
        "2> {log:q}"
