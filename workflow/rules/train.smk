# Training from scratch (CAN, then the LSTM denoiser on the trained CAN's outputs, computed
# in memory by train-lstm), with subject-wise cross-validation. Only runs when a config points models.* at these outputs
# (see workflow/configs/train_synth.yaml) or when `snakemake train` is asked for.


rule train_can:
    input:
        prepared=can_training_groups,
    output:
        model=f"{RESULTS}/training/{{task}}/can.keras",
        curves=report(f"{RESULTS}/training/{{task}}/can_curves.csv", category="Training"),
        curves_png=report(f"{RESULTS}/training/{{task}}/can_curves.png", category="Training"),
        sidecar=f"{RESULTS}/training/{{task}}/can.json",
    params:
        stores=lambda w, input: [group_store(p) for p in input.prepared],
        settings=lambda w: can_training_settings(w.task),
    threads: 2
    resources:
        gpu=GPUS,
    log:
        f"{RESULTS}/logs/training/{{task}}/train_can.log",
    conda:
        "../../envs/distraction.yaml"
    shell:
        "distraction train-can --task={wildcards.task} --stores {params.stores:q} "
        "--output={output.model:q} --curves={output.curves:q} --sidecar={output.sidecar:q} "
        "--settings={params.settings:q} 2> {log:q}"


rule train_lstm:
    input:
        prepared=lstm_training_groups,
        can_model=f"{RESULTS}/training/{{task}}/can.keras",
    output:
        model=f"{RESULTS}/training/{{task}}/lstm.keras",
        curves=report(f"{RESULTS}/training/{{task}}/lstm_curves.csv", category="Training"),
        curves_png=report(f"{RESULTS}/training/{{task}}/lstm_curves.png", category="Training"),
        sidecar=f"{RESULTS}/training/{{task}}/lstm.json",
    params:
        stores=lambda w, input: [group_store(p) for p in input.prepared],
        settings=lambda w: settings_json(
            w.task,
            "conditioning",
            "corruption",
            "denoise",
            "training",
            "seed",
            drop=(
                "training.can_epochs",
                "training.can_select_by",
                "training.can_skin_attention_weight",
            ),
        ),
    threads: 2
    resources:
        gpu=GPUS,
    log:
        f"{RESULTS}/logs/training/{{task}}/train_lstm.log",
    conda:
        "../../envs/distraction.yaml"
    shell:
        "distraction train-lstm --task={wildcards.task} --stores {params.stores:q} "
        "--output={output.model:q} --curves={output.curves:q} --sidecar={output.sidecar:q} "
        "--can-model={input.can_model:q} --settings={params.settings:q} 2> {log:q}"


rule train:
    input:
        expand(f"{RESULTS}/training/{{task}}/{{kind}}.keras", task=TASKS, kind=["can", "lstm"]),
