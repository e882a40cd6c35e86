# Frame extraction: one job per video, writing the 'prepared' group of its Zarr store.


rule prepare:
    input:
        unpack(source_of),
    output:
        group_file("prepared"),
    params:
        format=lambda w: config["datasets"][w.dataset]["format"],
        root=lambda w: dataset_root(w.dataset),
        store=lambda w: store_path(w.dataset, w.recording),
        settings=json.dumps({"prepare": config["prepare"]}, sort_keys=True, separators=(",", ":")),
        retry=retry("prepare"),
    threads: video_threads
    log:
        f"{RESULTS}/logs/{{dataset}}/prepare/{{recording}}.log",
    conda:
        "../../envs/distraction.yaml"
    shell:
        "distraction prepare --format={params.format} --root={params.root:q} "
        "--dataset={wildcards.dataset:q} --recording={wildcards.recording:q} "
        "--store={params.store:q} --settings={params.settings:q} "
        "--threads={threads} --record-failures "
        "2> {log:q}"
