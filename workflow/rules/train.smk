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
        stores=lambda w, input: [os.path.dirname(p) for p in input.prepared],
        band=lambda w: task_band(w.task),
        detrend_lambda=lambda w: config["conditioning"][f"{w.task}_detrend_lambda"],
        folds=config["training"]["folds"],
        fraction=config["training"]["validation_fraction"],
        epochs=config["training"]["can_epochs"],
        batch_size=config["training"]["batch_size"],
        learning_rate=config["training"]["learning_rate"],
        patience=config["training"]["patience"],
        select_by=lambda w: config["training"]["can_select_by"][w.task],
        seed=config["seed"],
    threads: 2
    resources:
        gpu=1,
    log:
        f"{RESULTS}/logs/training/{{task}}/train_can.log",
    conda:
        "../../envs/distraction.yaml"
    shell:
        "distraction train-can --task {wildcards.task} --stores {params.stores:q} "
        "--output {output.model:q} --curves {output.curves:q} --sidecar {output.sidecar:q} "
        "--folds {params.folds} --validation-fraction {params.fraction} --epochs {params.epochs} "
        "--batch-size {params.batch_size} --learning-rate {params.learning_rate} "
        "--patience {params.patience} --seed {params.seed} --band {params.band} "
        "--detrend-lambda {params.detrend_lambda} --select-by {params.select_by} 2> {log:q}"


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
        stores=lambda w, input: [os.path.dirname(p) for p in input.prepared],
        band=lambda w: task_band(w.task),
        detrend_lambda=lambda w: config["conditioning"][f"{w.task}_detrend_lambda"],
        window=config["denoise"]["window"],
        stride=config["denoise"]["stride"],
        cancel=lambda w: cancel_option(w.task),
        inverse_mask=config["corruption"]["inverse_mask"],
        threshold=config["corruption"]["threshold"],
        fs_out=lambda w: config["conditioning"][f"{w.task}_fs_out"],
        folds=config["training"]["folds"],
        fraction=config["training"]["validation_fraction"],
        epochs=config["training"]["lstm_epochs"],
        batch_size=config["training"]["batch_size"],
        learning_rate=config["training"]["learning_rate"],
        patience=config["training"]["patience"],
        seed=config["seed"],
    threads: 2
    resources:
        gpu=1,
    log:
        f"{RESULTS}/logs/training/{{task}}/train_lstm.log",
    conda:
        "../../envs/distraction.yaml"
    shell:
        "distraction train-lstm --task {wildcards.task} --stores {params.stores:q} "
        "--output {output.model:q} --curves {output.curves:q} --sidecar {output.sidecar:q} "
        "--folds {params.folds} --validation-fraction {params.fraction} --epochs {params.epochs} "
        "--batch-size {params.batch_size} --learning-rate {params.learning_rate} "
        "--patience {params.patience} --seed {params.seed} --band {params.band} "
        "--detrend-lambda {params.detrend_lambda} --window {params.window} --stride {params.stride} {params.cancel} "
        "--can-model {input.can_model:q} --inverse-mask {params.inverse_mask} "
        "--threshold {params.threshold} --fs-out {params.fs_out} 2> {log:q}"


rule train:
    input:
        expand(f"{RESULTS}/training/{{task}}/{{kind}}.keras", task=TASKS, kind=["can", "lstm"]),
