# Shard the input and encode each shard as one-hot (N, 4, L).


rule shard:
    input:
        INPUT_FILE,
    output:
        expand(str(OUT / "shards" / "shard-{shard}.{ext}"), shard=SHARDS, ext=SHARD_EXT),
    params:
        outdir=str(OUT / "shards"),
        n=N_SHARDS,
    log:
        logpath("shard"),
    threads: 1
    resources:
        mem_mb=res("shard", "mem_mb"),
        runtime=res("shard", "runtime"),
    shell:
        "{SPARSELRP} shard {input:q} -n {params.n} -o {params.outdir:q} > {log:q} 2>&1"


def _encode_args():
    args = []
    if INPUT_KIND == "bed":
        args += ["--genome", shlex.quote(GENOME), "--off-chrom", config["input"]["off_chrom"]]
    if config["input"]["length"]:
        args += ["--length", str(config["input"]["length"])]
    return " ".join(args)


rule encode:
    input:
        str(OUT / "shards" / f"shard-{{shard}}.{SHARD_EXT}"),
    output:
        str(OUT / "onehot" / "shard-{shard}.npz"),
    params:
        src="--bed" if INPUT_KIND == "bed" else "",
        args=_encode_args(),
    log:
        logpath("encode", "{shard}"),
    threads: 1
    resources:
        mem_mb=res("encode", "mem_mb"),
        runtime=res("encode", "runtime"),
    shell:
        "{SPARSELRP} encode {params.src} {input:q} {params.args} -o {output:q} > {log:q} 2>&1"


rule merge_onehot:
    input:
        expand(str(OUT / "onehot" / "shard-{shard}.npz"), shard=SHARDS),
    output:
        str(OUT / "onehot.npz"),
    log:
        logpath("merge_onehot"),
    threads: 1
    resources:
        mem_mb=res("merge_onehot", "mem_mb"),
        runtime=res("merge_onehot", "runtime"),
    shell:
        "{SPARSELRP} merge --kind onehot {input:q} -o {output:q} > {log:q} 2>&1"
