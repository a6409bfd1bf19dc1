# Seqlets (per-position table for browsing) -> motifs (tfmodisco-lite on the hypothetical scores:
# MEME, JSON, the tfmodisco-lite HDF5 Fi-NeMo's call-hits reads, one narrowPeak row per sequence)
# -> attribution logos.


rule seqlets:
    input:
        attr=str(OUT / "attributions.npz"),
        onehot=str(OUT / "onehot.npz"),
    output:
        tsv=str(OUT / "seqlets.tsv"),
        bed=str(OUT / "seqlets.bed"),
    params:
        extra=config["seqlets"]["extra"],
    log:
        logpath("seqlets"),
    threads: 1
    resources:
        mem_mb=res("seqlets", "mem_mb"),
        runtime=res("seqlets", "runtime"),
    shell:
        "{SPARSELRP} seqlets -a {input.attr:q} -s {input.onehot:q} -o {output.tsv:q} --bed {output.bed:q}"
        " {params.extra} > {log:q} 2>&1"


if not config["attribute"]["hypothetical"]:
    raise ValueError("config: attribute.hypothetical must be true: the motifs rule runs tfmodisco-lite on the "
                     "hypothetical scores")


rule motifs:
    input:
        hyp=str(OUT / "hypothetical.npz"),
        onehot=str(OUT / "onehot.npz"),
    output:
        meme=str(OUT / "motifs.meme"),
        json=str(OUT / "motifs.json"),
        h5=str(OUT / "modisco_results.h5"),
        regions=str(OUT / "regions.narrowPeak"),
    params:
        extra=config["motifs"]["extra"],
    log:
        logpath("motifs"),
    threads: 1
    resources:
        mem_mb=res("motifs", "mem_mb"),
        runtime=res("motifs", "runtime"),
    shell:
        "{SPARSELRP} motifs -a {input.hyp:q} -s {input.onehot:q} -o {output.meme:q} --json {output.json:q}"
        " --h5 {output.h5:q} --regions {output.regions:q} {params.extra} > {log:q} 2>&1"


rule logos:
    input:
        attr=str(OUT / "attributions.npz"),
        onehot=str(OUT / "onehot.npz"),
    output:
        directory(str(OUT / "logos")),
    params:
        extra=config["logos"]["extra"],
    log:
        logpath("logos"),
    threads: 1
    resources:
        mem_mb=res("logos", "mem_mb"),
        runtime=res("logos", "runtime"),
    shell:
        "{SPARSELRP} logo -a {input.attr:q} -s {input.onehot:q} -o {output:q} {params.extra} > {log:q} 2>&1"
