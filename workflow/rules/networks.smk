# Each network, exported once for the litert engine (models.engine: auto or litert): LiteRT
# starts much faster than TensorFlow, whose start is most of a short video's network job.


rule export_litert:
    input:
        lambda w: model_file(w.task, w.kind),
    output:
        model=f"{RESULTS}/models/{{task}}_{{kind}}.tflite",
        sidecar=f"{RESULTS}/models/{{task}}_{{kind}}.tflite.json",
    log:
        f"{RESULTS}/logs/models/export_litert_{{task}}_{{kind}}.log",
    conda:
        "../../envs/distraction.yaml"
    shell:
        "distraction export-litert --model={input:q} --output={output.model:q} 2> {log:q}"


# Network stages per video, in one job (one process, so the network runtime starts once per video):
# CAN inference (signal + attention masks), inverse-mask corruption traces, LSTM denoising.
# Each stage still writes its own group of the store and is its own CLI subcommand
# (infer-can, corruption, denoise); `distraction infer` runs the three in sequence.


rule infer:
    input:
        prepared=group_file("prepared"),
        can_model=lambda w: model_file(w.task, "can"),
        lstm_model=lambda w: model_file(w.task, "lstm"),
        can_litert=lambda w: litert_file(w.task, "can"),
        lstm_litert=lambda w: litert_file(w.task, "lstm"),
    output:
        can=group_file("can_{task}"),
        corruption=group_file("corruption_{task}"),
        denoised=group_file("denoised_{task}"),
    params:
        store=lambda w: store_path(w.dataset, w.recording),
        batch_size=config["models"]["batch_size"],
        engine=config["models"]["engine"],
        litert=litert_options,
        settings=lambda w: settings_json(w.task, "conditioning", "corruption", "denoise"),
        retry=retry("infer_{task}"),
    threads: video_threads
    resources:
        gpu=GPUS,
    log:
        f"{RESULTS}/logs/{{dataset}}/infer_{{task}}/{{recording}}.log",
    conda:
        "../../envs/distraction.yaml"
    shell:
        "distraction infer --store={params.store:q} --task={wildcards.task} "
        "--can-model={input.can_model:q} --lstm-model={input.lstm_model:q} "
        "--engine={params.engine} {params.litert} --batch-size={params.batch_size} "
        "--threads={threads} --settings={params.settings:q} --record-failures 2> {log:q}"
