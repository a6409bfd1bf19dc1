# Per-position relevance as genome-browser tracks (bedGraph + bigWig, genome coordinates).


def _chrom_sizes_arg():
    cs = config["tracks"]["chrom_sizes"]
    cs = _slp.resolve_data(cs) if cs else GENOME
    return f"--chrom-sizes {shlex.quote(cs)}" if cs else ""


rule tracks:
    input:
        attr=str(OUT / "attributions.npz"),
        onehot=str(OUT / "onehot.npz"),
    output:
        bedgraph=str(OUT / "tracks" / "relevance.bedGraph.gz"),
        bigwig=str(OUT / "tracks" / "relevance.bw") if config["tracks"]["bigwig"] else [],
    params:
        bigwig=(lambda wc, output: f"--bigwig {shlex.quote(output.bigwig)}") if config["tracks"]["bigwig"] else "",
        sizes=_chrom_sizes_arg(),
        reduce=config["tracks"]["reduce"],
    log:
        logpath("tracks"),
    threads: 1
    resources:
        mem_mb=res("tracks", "mem_mb"),
        runtime=res("tracks", "runtime"),
    shell:
        "{SPARSELRP} tracks -a {input.attr:q} -s {input.onehot:q} --bedgraph {output.bedgraph:q}"
        " {params.bigwig} {params.sizes} --reduce {params.reduce} > {log:q} 2>&1"
