# Seqlets -> motifs (PWM/CWM, JASPAR matches) -> attribution logos.


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


rule motifs:
    input:
        attr=str(OUT / "attributions.npz"),
        onehot=str(OUT / "onehot.npz"),
        seqlets=str(OUT / "seqlets.tsv"),
    output:
        meme=str(OUT / "motifs.meme"),
        json=str(OUT / "motifs.json"),
    params:
        extra=config["motifs"]["extra"],
    log:
        logpath("motifs"),
    threads: 1
    resources:
        mem_mb=res("motifs", "mem_mb"),
        runtime=res("motifs", "runtime"),
    shell:
        "{SPARSELRP} motifs -a {input.attr:q} -s {input.onehot:q} --seqlets {input.seqlets:q}"
        " -o {output.meme:q} --json {output.json:q} {params.extra} > {log:q} 2>&1"


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
