"""Genome-scale pipeline benchmark: windows per second, peak memory, sparse vs dense output size.

Makes a synthetic genome (random bases, a few chromosomes) and one BED of
``--n`` windows of ``--length`` bp over it (both strands), saves the zoo's
DeepSEA-like model (random weights, fixed seed), then runs the steps of the
Snakemake workflow through the same ``sparselrp`` commands its rules call:

    shard -> encode (per shard) -> attribute (per shard, pruned LRP, sparse) -> merge (sparse, dense)

one step at a time, each as its own process with ``--threads`` torch threads
(2 CPU cores by default), and records each process's wall time and peak resident
memory (``wait4`` rusage). It prints one table per step and a summary: windows
per second of the attribute step and end to end, peak RSS of any step (target:
under 2 GB, set by the batch size, not by the shard or genome size), and the
size of the merged attributions sparse vs dense.

    python benchmarks/pipeline_scale.py --n 2000            # a quick run (minutes)
    python benchmarks/pipeline_scale.py                     # 100,000 windows (about 75 minutes on 2 cores)

``--snakemake`` runs the same steps through ``snakemake -c THREADS`` instead
(peak RSS is then that of the largest job, snakemake included).
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BIN = Path(sys.executable).parent


def _exe():
    p = BIN / "sparselrp"
    return str(p) if p.exists() else (shutil.which("sparselrp") or "sparselrp")


def make_genome(path, n_windows, length, step, n_chroms, seed):
    """Random genome with ``n_chroms`` chromosomes holding ``n_windows`` windows at ``step`` bp."""
    rng = np.random.default_rng(seed)
    per = -(-n_windows // n_chroms)
    size = (per - 1) * step + length + 100
    sizes = {}
    with open(path, "w") as fh:
        for c in range(n_chroms):
            name = f"chr{c + 1}"
            fh.write(f">{name}\n")
            for i in range(0, size, 8_000_000):  # 80-column lines, 8 Mb at a time
                block = np.frombuffer(b"ACGT", np.uint8)[rng.integers(0, 4, min(8_000_000, size - i))]
                pad = (-block.size) % 80
                lines = np.concatenate([block, np.zeros(pad, np.uint8)]).reshape(-1, 80)
                lines = np.concatenate([lines, np.full((lines.shape[0], 1), ord("\n"), np.uint8)], axis=1)
                text = lines.tobytes()
                fh.write(text[:len(text) - pad - 1].decode() + "\n" if pad else text.decode())
            sizes[name] = size
    return sizes


def make_bed(path, sizes, n_windows, length, step):
    per = -(-n_windows // len(sizes))
    rows, k = [], 0
    for name in sizes:
        starts = 50 + step * np.arange(min(per, n_windows - k))
        strand = np.where(np.arange(starts.size) % 2, "-", "+")
        rows += [f"{name}\t{s}\t{s + length}\tw{k + i}\t0\t{st}\n" for i, (s, st) in enumerate(zip(starts, strand))]
        k += starts.size
    with open(path, "w") as fh:
        fh.writelines(rows)
    return k


def run(cmd, threads, log):
    """Run one step; return (wall seconds, peak RSS bytes) of it and its children."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    t0 = time.perf_counter()
    with open(log, "a") as fh:
        fh.write("$ " + " ".join(map(str, cmd)) + "\n")
        fh.flush()
        proc = subprocess.Popen([str(c) for c in cmd], stdout=fh, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"step failed (exit {proc.returncode}): {' '.join(map(str, cmd))}; see {log}")
    return wall, usage.ru_maxrss * 1024


def setup(work, args):
    """Genome, BED and model (run in a child process so the parent stays small: a child's peak RSS
    counts the memory its parent had when it was started)."""
    import torch

    import sparselrp as sl

    sizes = make_genome(work / "genome.fa", args.n, args.length, args.step, args.chroms, args.seed)
    n = make_bed(work / "windows.bed", sizes, args.n, args.length, args.step)
    torch.manual_seed(args.seed)
    arch = sl.models.ZOO[args.model]
    model = arch(seq_len=args.length) if args.model == "deepsea" else arch()
    sl.models.save(model, work / "model")
    (work / "n_windows.txt").write_text(str(n))


def fmt_bytes(b):
    for unit in ("B", "KB", "MB", "GB"):
        if b < 1024 or unit == "GB":
            return f"{b:.1f} {unit}" if unit != "B" else f"{b} B"
        b /= 1024


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100_000, help="number of windows")
    ap.add_argument("--length", type=int, default=1000, help="window length (bp)")
    ap.add_argument("--step", type=int, default=1000, help="distance between window starts (bp)")
    ap.add_argument("--chroms", type=int, default=4, help="chromosomes of the synthetic genome")
    ap.add_argument("--shards", type=int, default=None, help="shards (default: one per 10,000 windows)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2, help="CPU threads (torch) per step")
    ap.add_argument("--prune-mass", type=float, default=0.5)
    ap.add_argument("--composite", default="best-practice", help="LRP composite (zennit name)")
    ap.add_argument("--model", default="deepsea", help="zoo model name")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--no-dense", action="store_true", help="skip writing the dense merged npz")
    ap.add_argument("--snakemake", action="store_true", help="run the steps through the Snakemake workflow")
    ap.add_argument("--workdir", default=None, help="keep all files here (default: a temporary folder)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--_setup", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._setup:
        return setup(Path(args._setup), args)

    shards = args.shards or max(1, -(-args.n // 10_000))
    tmp = None
    if args.workdir:
        work = Path(args.workdir)
        work.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="sparselrp_bench_")
        work = Path(tmp.name)
    log = work / "steps.log"
    exe = _exe()
    rows = []
    try:
        t0 = time.perf_counter()
        wall, rss = run([sys.executable, __file__, *(argv if argv is not None else sys.argv[1:]),
                         "--_setup", work], 1, log)
        n = int((work / "n_windows.txt").read_text())
        rows.append(("make genome + BED + model", 1, wall, rss))

        if args.snakemake:
            import yaml

            from sparselrp.pipeline import snakefile

            cfg = {"input": {"bed": "windows.bed", "genome": "genome.fa", "length": args.length},
                   "model": "model", "shards": shards,
                   "attribute": {"batch_size": args.batch_size, "prune_mass": args.prune_mass, "device": args.device,
                                 "composite": args.composite},
                   "merge": {"dense": not args.no_dense},
                   "resources": {"default": {"threads": 1}, "attribute": {"threads": args.threads}}}
            (work / "bench.yaml").write_text(yaml.safe_dump(cfg))
            targets = ["results/attributions.npz"] + ([] if args.no_dense else ["results/attributions.dense.npz"])
            snk = shutil.which("snakemake", path=str(BIN)) or "snakemake"
            wall, rss = run([snk, *targets, "-s", snakefile(), "-c", args.threads, "--directory", work,
                             "--configfile", work / "bench.yaml"], args.threads, log)
            rows.append((f"snakemake -c {args.threads} (shard..merge)", 1, wall, rss))
            attr_wall = wall
            merged = work / "results" / "attributions.npz"
            dense = work / "results" / "attributions.dense.npz"
        else:
            (work / "shards").mkdir(exist_ok=True)
            wall, rss = run([exe, "shard", work / "windows.bed", "-n", shards, "-o", work / "shards"], 1, log)
            rows.append(("shard", 1, wall, rss))
            shard_bed = sorted((work / "shards").glob("shard-*.bed"))
            enc = [run([exe, "encode", "--bed", p, "--genome", work / "genome.fa", "--length", args.length,
                        "-o", p.with_suffix(".ohe.npz")], args.threads, log) for p in shard_bed]
            rows.append(("encode", len(enc), sum(w for w, _ in enc), max(r for _, r in enc)))
            att = [run([exe, "attribute", "-m", work / "model", "-s", p.with_suffix(".ohe.npz"),
                        "-o", p.with_suffix(".attr.npz"), "--sparse", "--prune-mass", args.prune_mass, "--composite", args.composite,
                        "--batch-size", args.batch_size, "--device", args.device], args.threads, log)
                   for p in shard_bed]
            attr_wall = sum(w for w, _ in att)
            rows.append(("attribute", len(att), attr_wall, max(r for _, r in att)))
            parts = [p.with_suffix(".attr.npz") for p in shard_bed]
            merged = work / "attributions.npz"
            wall, rss = run([exe, "merge", *parts, "-o", merged, "--sparse"], 1, log)
            rows.append(("merge (sparse)", 1, wall, rss))
            dense = work / "attributions.dense.npz"
            if not args.no_dense:
                wall, rss = run([exe, "merge", *parts, "-o", dense, "--dense"], 1, log)
                rows.append(("merge (dense arr_0)", 1, wall, rss))
        total = time.perf_counter() - t0

        from importlib.metadata import version

        print(f"\nsparselrp pipeline benchmark: {n} windows x {args.length} bp, model {args.model}, "
              f"{shards} shards, batch {args.batch_size}, {args.threads} threads, prune mass {args.prune_mass}, "
              f"composite {args.composite}, "
              f"device {args.device}, torch {version('torch')}, {os.cpu_count()} CPUs visible\n")
        print(f"{'step':34s} {'jobs':>5s} {'wall s':>9s} {'peak RSS':>10s}")
        print("-" * 61)
        for name, jobs, wall, rss in rows:
            print(f"{name:34s} {jobs:5d} {wall:9.1f} {fmt_bytes(rss) if rss else '-':>10s}")
        peak = max(r for name, _, _, r in rows[1:])
        raw = n * 4 * args.length * 4
        print("-" * 61)
        label = "shard..merge: windows / s" if args.snakemake else "attribute: windows / s"
        print(f"{label:34s} {n / attr_wall:>26.1f}")
        print(f"{'end to end: windows / s':34s} {n / total:>26.1f}")
        print(f"{'peak RSS of any step':34s} {fmt_bytes(peak):>26s}  ({'under' if peak < 2 * 1024**3 else 'OVER'} 2 GB)")
        print(f"{'merged sparse npz':34s} {fmt_bytes(merged.stat().st_size):>26s}")
        try:
            from sparselrp.io.npz_stream import npz_member_info

            nnz = npz_member_info(merged, "values")[0][0]
            print(f"{'non-zero entries (of N x 4 x L)':34s} {nnz / (n * 4 * args.length):>26.4f}")
        except ValueError:
            pass
        if dense.exists():
            print(f"{'merged dense npz (compressed)':34s} {fmt_bytes(dense.stat().st_size):>26s}")
        print(f"{'dense float32 in memory':34s} {fmt_bytes(raw):>26s}")
        print(f"{'sparse / dense-in-memory':34s} {merged.stat().st_size / raw:>26.4f}")
        if args.workdir:
            print(f"\nfiles and step log kept in {work}")
    finally:
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    main()
