# Run parameters and the self-contained HTML report.


rule params:
    output:
        str(OUT / "params.json"),
    params:
        values={
            "sparselrp_version": sparselrp.__version__,
            "input": {"kind": INPUT_KIND, "file": INPUT_FILE, "genome": GENOME,
                      "records": N_RECORDS, "length": config["input"]["length"]},
            "model": MODEL,
            "shards": N_SHARDS,
            "attribute": dict(config["attribute"]),
            "tracks": dict(config["tracks"]),
        },
    log:
        logpath("params"),
    threads: 1
    run:
        from sparselrp._atomic import atomic_open

        with atomic_open(output[0], "w") as fh:
            json.dump(params.values, fh, indent=2, sort_keys=True)
            fh.write("\n")


rule report:
    input:
        attr=str(OUT / "attributions.npz"),
        onehot=str(OUT / "onehot.npz"),
        motifs=str(OUT / "motifs.json"),
        seqlets=str(OUT / "seqlets.tsv"),
        params=str(OUT / "params.json"),
    output:
        str(OUT / "report.html"),
    params:
        extra=config["report"]["extra"],
    log:
        logpath("report"),
    threads: 1
    resources:
        mem_mb=res("report", "mem_mb"),
        runtime=res("report", "runtime"),
    shell:
        "{SPARSELRP} report -s {input.onehot:q} -a {input.attr:q} --motifs {input.motifs:q}"
        " --seqlets {input.seqlets:q} --params {input.params:q} -o {output:q} {params.extra} > {log:q} 2>&1"
