# Network stages per video: CAN inference, corruption estimation and LSTM denoising.


rule infer_can:
    input:
        prepared=f"{RESULTS}/{{dataset}}/stores/{{recording}}.zarr/prepared",
        model=lambda w: model_file(w.task, "can"),
    output:
        directory(f"{RESULTS}/{{dataset}}/stores/{{recording}}.zarr/can_{{task}}"),
    params:
        store=lambda w: store_path(w.dataset, w.recording),
        batch_size=config["models"]["batch_size"],
    threads: 2
    resources:
        gpu=1,
    log:
        f"{RESULTS}/logs/{{dataset}}/infer_can_{{task}}/{{recording}}.log",
    conda:
        "../../envs/distraction.yaml"
    shell:
        "distraction infer-can --store {params.store:q} --task {wildcards.task} "
        "--model {input.model:q} --batch-size {params.batch_size} --record-failures 2> {log:q}"


rule corruption:
    input:
        prepared=f"{RESULTS}/{{dataset}}/stores/{{recording}}.zarr/prepared",
        can=f"{RESULTS}/{{dataset}}/stores/{{recording}}.zarr/can_{{task}}",
    output:
        directory(f"{RESULTS}/{{dataset}}/stores/{{recording}}.zarr/corruption_{{task}}"),
    params:
        store=lambda w: store_path(w.dataset, w.recording),
        inverse_mask=config["corruption"]["inverse_mask"],
        threshold=config["corruption"]["threshold"],
        band=lambda w: task_band(w.task),
        detrend_lambda=lambda w: config["conditioning"][f"{w.task}_detrend_lambda"],
        fs_out=config["conditioning"]["fs_out"],
    log:
        f"{RESULTS}/logs/{{dataset}}/corruption_{{task}}/{{recording}}.log",
    conda:
        "../../envs/distraction.yaml"
    shell:
        "distraction corruption --store {params.store:q} --task {wildcards.task} "
        "--inverse-mask {params.inverse_mask} --threshold {params.threshold} --band {params.band} "
        "--detrend-lambda {params.detrend_lambda} --fs-out {params.fs_out} --record-failures "
        "2> {log:q}"


rule denoise:
    input:
        corruption=f"{RESULTS}/{{dataset}}/stores/{{recording}}.zarr/corruption_{{task}}",
        model=lambda w: model_file(w.task, "lstm"),
    output:
        directory(f"{RESULTS}/{{dataset}}/stores/{{recording}}.zarr/denoised_{{task}}"),
    params:
        store=lambda w: store_path(w.dataset, w.recording),
        window=config["denoise"]["window"],
        stride=config["denoise"]["stride"],
        overlap=config["denoise"]["overlap"],
        batch_size=config["models"]["batch_size"],
    threads: 2
    resources:
        gpu=1,
    log:
        f"{RESULTS}/logs/{{dataset}}/denoise_{{task}}/{{recording}}.log",
    conda:
        "../../envs/distraction.yaml"
    shell:
        "distraction denoise --store {params.store:q} --task {wildcards.task} --model {input.model:q} "
        "--window {params.window} --stride {params.stride} --overlap {params.overlap} "
        "--batch-size {params.batch_size} --record-failures 2> {log:q}"
