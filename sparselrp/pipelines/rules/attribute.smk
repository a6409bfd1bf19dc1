# Pruned LRP per shard (streamed batch by batch by `sparselrp attribute`), then merge.


def _train_args():
    if INPUT_KIND == "bed":
        args = ["--bed", shlex.quote(INPUT_FILE), "--genome", shlex.quote(GENOME)]
    else:
        args = ["--positives", shlex.quote(INPUT_FILE)]
    if config["input"]["length"]:
        args += ["--length", str(config["input"]["length"])]
    return " ".join(args)


if TRAIN_MODEL:

    rule train:
        input:
            INPUT_FILE,
        output:
            directory(MODEL),
        params:
            data=_train_args(),
            extra=config["train"]["extra"],
        log:
            logpath("train"),
        threads: res("train", "threads")
        resources:
            mem_mb=res("train", "mem_mb"),
            runtime=res("train", "runtime"),
        shell:
            "OMP_NUM_THREADS={threads} {SPARSELRP} train {params.data} --threads {threads} -o {output:q} {params.extra}"
            " > {log:q} 2>&1"


def _attribute_args():
    a = config["attribute"]
    args = ["--target", str(a["target"]), "--composite", a["composite"],
            "--batch-size", str(a["batch_size"]), "--device", a["device"], "--sparse"]
    if a["topk"] is not None and a["prune_mass"] is not None:
        raise ValueError("config: attribute.topk and attribute.prune_mass exclude each other; set one to null")
    if a["topk"] is not None:
        k = a["topk"]
        args += ["--topk", str(int(k) if float(k).is_integer() and k >= 1 else k)]
    elif a["prune_mass"] is not None:
        args += ["--prune-mass", str(a["prune_mass"])]
    else:
        args.append("--no-prune")
    if a["extra"]:
        args.append(a["extra"])
    return " ".join(args)


_HYP = config["attribute"]["hypothetical"]

rule attribute:
    input:
        onehot=str(OUT / "onehot" / "shard-{shard}.npz"),
        model=MODEL,
    output:
        attr=str(OUT / "attr" / "shard-{shard}.npz"),
        hyp=str(OUT / "hypothetical" / "shard-{shard}.npz") if _HYP else [],
    params:
        args=_attribute_args(),
        hyp=(lambda wc, output: f"--hypothetical {shlex.quote(output.hyp)}") if _HYP else "",
    log:
        logpath("attribute", "{shard}"),
    threads: res("attribute", "threads")
    resources:
        mem_mb=res("attribute", "mem_mb"),
        runtime=res("attribute", "runtime"),
    shell:
        "OMP_NUM_THREADS={threads} MKL_NUM_THREADS={threads} {SPARSELRP} attribute -m {input.model:q}"
        " -s {input.onehot:q} -o {output.attr:q} {params.args} {params.hyp} > {log:q} 2>&1"


rule merge_attributions:
    input:
        expand(str(OUT / "attr" / "shard-{shard}.npz"), shard=SHARDS),
    output:
        str(OUT / "attributions.npz"),
    log:
        logpath("merge_attributions"),
    threads: 1
    resources:
        mem_mb=res("merge_attributions", "mem_mb"),
        runtime=res("merge_attributions", "runtime"),
    shell:
        "{SPARSELRP} merge --kind attributions --sparse {input:q} -o {output:q} > {log:q} 2>&1"


rule merge_dense:
    input:
        expand(str(OUT / "attr" / "shard-{shard}.npz"), shard=SHARDS),
    output:
        str(OUT / "attributions.dense.npz"),
    log:
        logpath("merge_dense"),
    threads: 1
    resources:
        mem_mb=res("merge_dense", "mem_mb"),
        runtime=res("merge_dense", "runtime"),
    shell:
        "{SPARSELRP} merge --kind attributions --dense {input:q} -o {output:q} > {log:q} 2>&1"


rule merge_hypothetical:
    input:
        expand(str(OUT / "hypothetical" / "shard-{shard}.npz"), shard=SHARDS),
    output:
        str(OUT / "hypothetical.npz"),
    log:
        logpath("merge_hypothetical"),
    threads: 1
    resources:
        mem_mb=res("merge_hypothetical", "mem_mb"),
        runtime=res("merge_hypothetical", "runtime"),
    shell:
        "{SPARSELRP} merge --kind attributions --dense {input:q} -o {output:q} > {log:q} 2>&1"
