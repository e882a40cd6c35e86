# Network stages per video, in one job (one process, so TensorFlow starts once per video):
# CAN inference (signal + attention masks), inverse-mask corruption traces, LSTM denoising.
# Each stage still writes its own group of the store and is its own CLI subcommand
# (infer-can, corruption, denoise); `distraction infer` runs the three in sequence.


rule infer:
    input:
        prepared=f"{RESULTS}/{{dataset}}/stores/{{recording}}.zarr/prepared",
        can_model=lambda w: model_file(w.task, "can"),
        lstm_model=lambda w: model_file(w.task, "lstm"),
    output:
        can=directory(f"{RESULTS}/{{dataset}}/stores/{{recording}}.zarr/can_{{task}}"),
        corruption=directory(f"{RESULTS}/{{dataset}}/stores/{{recording}}.zarr/corruption_{{task}}"),
        denoised=directory(f"{RESULTS}/{{dataset}}/stores/{{recording}}.zarr/denoised_{{task}}"),
    params:
        store=lambda w: store_path(w.dataset, w.recording),
        batch_size=config["models"]["batch_size"],
        inverse_mask=config["corruption"]["inverse_mask"],
        threshold=config["corruption"]["threshold"],
        band=lambda w: task_band(w.task),
        detrend_lambda=lambda w: config["conditioning"][f"{w.task}_detrend_lambda"],
        fs_out=config["conditioning"]["fs_out"],
        window=config["denoise"]["window"],
        stride=config["denoise"]["stride"],
        cancel=lambda w: cancel_option(w.task),
        overlap=config["denoise"]["overlap"],
    threads: 2
    resources:
        gpu=1,
    log:
        f"{RESULTS}/logs/{{dataset}}/infer_{{task}}/{{recording}}.log",
    conda:
        "../../envs/distraction.yaml"
    shell:
        "distraction infer --store {params.store:q} --task {wildcards.task} "
        "--can-model {input.can_model:q} --lstm-model {input.lstm_model:q} "
        "--batch-size {params.batch_size} --inverse-mask {params.inverse_mask} "
        "--threshold {params.threshold} --band {params.band} "
        "--detrend-lambda {params.detrend_lambda} --fs-out {params.fs_out} "
        "--window {params.window} --stride {params.stride} {params.cancel} --overlap {params.overlap} "
        "--record-failures 2> {log:q}"
