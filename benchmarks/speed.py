"""Speed and peak memory of sparselrp against the attribution tools users would pick instead (issue 8).

On one DeepSEA-like model (zoo "deepsea", 1,000 bp, one output, briefly trained on
planted CTCF sequences), the same one-hot inputs and the same device, measures
sequences per second of: gradient x input (the floor: one forward and one backward
pass), sparselrp LRP best-practice (sl.plrp's composite unpruned), sl.plrp, LRP
epsilon-gamma, TopK and MassPrune (lambda and matrix), captum
DeepLift and LRP, zennit EpsilonGammaBox, tangermeme deep_lift_shap (20 shuffled
references) and tangermeme saturation mutagenesis (ISM, at most --n-ism sequences).
Every method is warmed up on two sequences first (one-time costs such as JIT
compilation are left out), then timed on its inputs in batches of --batch-size.
Peak memory: on the CPU the peak resident set size above the baseline while one
batch is explained, each method in a fresh subprocess (Linux /proc high-water mark,
reset after loading); on CUDA ``torch.cuda.max_memory_allocated`` above the baseline.
Then the scaling of sparselrp and gradient x input on the fully convolutional
BPNet-like model: L from 500 to 20,000 at a fixed batch, and batch 1 to 512 at L = 1,000.

    python benchmarks/speed.py [--device cpu|cuda] [--n 256] [--quick] [--json results.json]

Prints markdown tables and PASS/MISS per target of issue 8 (and the pruning
overhead target of issue 4).
"""

import argparse
import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402


def _status_kb(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def _reset_peak():
    """Reset the RSS high-water mark to the current RSS; False where the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def memory_worker(args):
    """Subprocess: explain one batch with one method, print the extra peak RSS (MiB) as JSON."""
    import resource

    torch.set_num_threads(args.threads or torch.get_num_threads())
    method = {m.key: m for m in C.methods(args.topk, args.mass)}[args.memory_worker]
    model = C._freeze(C.sl.models.load(args.model_dir, device="cpu"))
    if method.peer_model:
        model = C.peer_compatible(model, args.length)
    n = 1 if method.key == "ism" else args.batch_size
    X = C.random_onehot(n, args.length, seed=0)
    method.fn(model, X[:1], 0, args.batch_size, "cpu")  # warm-up: one-time allocations left out
    exact = _reset_peak()
    base = _status_kb("VmRSS") if exact else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    method.fn(model, X, 0, args.batch_size, "cpu")
    peak = _status_kb("VmHWM") if exact else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print("MEMORY " + json.dumps(dict(key=method.key, n=n, mib=(peak - base) / 1024, exact=exact)))


def cpu_memory(method, model_dir, args):
    cmd = [sys.executable, str(Path(__file__).resolve()), "--memory-worker", method.key, "--model-dir", str(model_dir),
           "--length", str(args.length), "--batch-size", str(args.batch_size), "--topk", str(args.topk),
           "--mass", str(args.mass), "--threads", str(torch.get_num_threads())]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith("MEMORY "):
            return json.loads(line[7:])
    sys.stderr.write(f"memory worker for {method.key} failed:\n{proc.stderr[-2000:]}\n")
    return None


def throughput(fn, n_seqs, device, min_seconds=0.0):
    """Seconds per call (repeating short calls until ``min_seconds``) and sequences per second."""
    _, sec = C.timed(fn, device=device)
    reps, total = 1, sec
    while total < min_seconds and reps < 50:
        _, sec = C.timed(fn, device=device)
        reps, total = reps + 1, total + sec
    per = total / reps
    return per, n_seqs / per


def run_methods(model, model_dir, X, args, device, log):
    peer_model = None
    rows = []
    for m in C.select_methods(C.methods(args.topk, args.mass, n_ism=args.n_ism, n_dls=args.n_dls), args.methods):
        row = dict(key=m.key, method=m.label, family=m.family, pruned=m.pruned)
        ok, why = m.available()
        if not ok:
            rows.append(dict(row, note=why))
            log(f"# {m.label}: skipped ({why})")
            continue
        if m.peer_model and peer_model is None:
            peer_model = C.peer_compatible(model, X.shape[-1])
        mm = peer_model if m.peer_model else model
        n = min(X.shape[0], m.max_n) if m.max_n else X.shape[0]
        Xm = X[:n]
        try:
            m.fn(mm, X[:min(2, n)], 0, args.batch_size, device)  # warm-up
            if device.startswith("cuda"):
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
                base = torch.cuda.memory_allocated()
            sec, sps = throughput(lambda: m.fn(mm, Xm, 0, args.batch_size, device), n, device)
            row.update(n=n, seconds=sec, seq_per_s=sps)
            if device.startswith("cuda"):
                row["mem_mib"] = (torch.cuda.max_memory_allocated() - base) / 2**20
            log(f"# {m.label}: {n} sequences in {sec:.2f} s ({sps:.2f} seq/s)")
        except Exception as exc:  # a peer that cannot explain this model: say so in the table
            traceback.print_exc()
            row["note"] = f"error: {type(exc).__name__}: {str(exc).splitlines()[0][:80]}"
            rows.append(row)
            continue
        if not device.startswith("cuda") and not args.no_memory:
            mem = cpu_memory(m, model_dir, args)
            if mem is not None:
                row["mem_mib"] = mem["mib"]
                row["mem_n"] = mem["n"]
        rows.append(row)
    return rows


def main_table(rows):
    floor = next((r for r in rows if r["key"] == "gxi" and "seq_per_s" in r), None)
    out = []
    for r in rows:
        ratio = r["seq_per_s"] / floor["seq_per_s"] if floor and "seq_per_s" in r else None
        mratio = (r["mem_mib"] / floor["mem_mib"] if floor and floor.get("mem_mib") and "mem_mib" in r else None)
        r["speed_ratio"], r["mem_ratio"] = ratio, mratio
        out.append([r["method"], r.get("n"), r.get("seconds"), r.get("seq_per_s"), ratio, r.get("mem_mib"), mratio,
                    r.get("note", "")])
    return C.table(["method", "N", "seconds", "seq/s", "x grad*input", "peak MiB", "mem x grad*input", "note"], out)


def targets(rows):
    by = {r["key"]: r for r in rows if "seq_per_s" in r}
    lines, results = [], []

    def check(name, num, den, goal):
        if num not in by or den not in by:
            lines.append(f"n/a   {name} (not measured)")
            return
        ratio = by[num]["seq_per_s"] / by[den]["seq_per_s"]
        ok = ratio >= goal
        results.append(dict(target=name, ratio=ratio, goal=goal, passed=ok))
        lines.append(f"{'PASS' if ok else 'MISS'}  {name}: {ratio:.2f}x (target >= {goal}x)")

    check("sl.plrp vs grad x input (issue 15)", "plrp", "gxi", 0.6)
    check("sl.plrp vs its composite unpruned, LRP best-practice (issue 15: pruning overhead <= 10 %)", "plrp", "lrp",
          0.9)
    for key in ("mass", "topk", "mass_m"):
        if key in by:
            lab = by[key]["method"]
            check(f"{lab} vs grad x input", key, "gxi", 0.5)
            check(f"{lab} vs tangermeme deep_lift_shap", key, "dls", 10)
            check(f"{lab} vs tangermeme ISM", key, "ism", 100)
            check(f"{lab} vs unpruned LRP (issue 4 overhead)", key, "lrp", 0.8)
    return "\n".join(lines), results


def scaling(args, device, log):
    model, _, _ = C.bpnet_model(cache=args.cache, log=log) if not args.quick else (C._freeze(_tiny_bpnet()), None, None)
    ms = C.select_methods(C.methods(args.topk, args.mass), args.scale_methods)
    rows = []

    def measure(kind, n, length):
        X = C.random_onehot(n, length, seed=1)
        row = [kind, length, n]
        for m in ms:
            try:
                m.fn(model, X[:1], 0, n, device)
                if device.startswith("cuda"):
                    torch.cuda.empty_cache()
                    torch.cuda.reset_peak_memory_stats()
                sec, sps = throughput(lambda: m.fn(model, X, 0, n, device), n, device, min_seconds=0.5)
                row.append(sps)
                if device.startswith("cuda"):
                    row.append(torch.cuda.max_memory_allocated() / 2**20)
            except Exception as exc:
                traceback.print_exc()
                row.append(f"error: {type(exc).__name__}")
                if device.startswith("cuda"):
                    row.append(None)
        log(f"# scaling {kind} L={length} batch={n}: " + ", ".join(C.fmt(v) for v in row[3:]))
        rows.append(row)

    for length in args.scale_lengths:
        measure("length", args.scale_batch, length)
    for n in args.scale_batches:
        measure("batch", n, 1000 if not args.quick else args.length)
    headers = ["sweep", "L", "batch"]
    for m in ms:
        headers.append(f"{m.key} seq/s")
        if device.startswith("cuda"):
            headers.append(f"{m.key} peak MiB")
    # ratios to grad x input
    if ms and ms[0].key == "gxi" and not device.startswith("cuda"):
        for m in ms[1:]:
            headers.append(f"{m.key} x gxi")
        for row in rows:
            base = row[3]
            for v in row[4:3 + len(ms)]:
                row.append(v / base if isinstance(v, float) and isinstance(base, float) else None)
    return C.table(headers, rows), [dict(zip(headers, r)) for r in rows]


def _tiny_deepsea():
    torch.manual_seed(0)
    return C.sl.models.ZOO["deepsea"](n_targets=1, seq_len=200, channels=(16, 16, 16), hidden=16)


def _tiny_bpnet():
    torch.manual_seed(0)
    return C.sl.models.ZOO["bpnet"](seq_len=200, n_filters=8, n_layers=2)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    ap.add_argument("--n", type=int, default=256, help="sequences explained per method")
    ap.add_argument("--length", type=int, default=1000, help="sequence length of the main table")
    ap.add_argument("--batch-size", type=int, default=64, help="sequences per batch for every method")
    ap.add_argument("--n-ism", type=int, default=8, help="sequences for ISM (it is slow)")
    ap.add_argument("--n-dls", type=int, default=64, help="sequences for deep_lift_shap (0: all --n)")
    ap.add_argument("--topk", type=float, default=C.TOPK_DEFAULT, help="TopK k (float: share of units per layer)")
    ap.add_argument("--mass", type=float, default=C.MASS_DEFAULT, help="MassPrune p")
    ap.add_argument("--methods", default="all", help="comma-separated method keys of the main table")
    ap.add_argument("--epochs", type=int, default=0,
                    help="training epochs of the DeepSEA-like model (0: seeded random weights)")
    ap.add_argument("--no-memory", action="store_true", help="skip the CPU memory subprocesses")
    ap.add_argument("--no-scaling", action="store_true", help="skip the BPNet scaling runs")
    ap.add_argument("--scale-methods", default="gxi,lrp,plrp", help="methods of the scaling runs")
    ap.add_argument("--scale-lengths", type=int, nargs="+", default=[500, 1000, 2000, 5000, 10000, 20000])
    ap.add_argument("--scale-batch", type=int, default=8, help="batch of the length sweep")
    ap.add_argument("--scale-batches", type=int, nargs="+", default=[1, 4, 16, 64, 256, 512])
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    ap.add_argument("--cache", default=str(C.DEFAULT_CACHE), help="directory of the cached trained models")
    ap.add_argument("--json", default=None, help="also write all results to this JSON file")
    ap.add_argument("--quick", action="store_true",
                    help="tiny models and inputs (a smoke test that the script runs; figures meaningless)")
    ap.add_argument("--memory-worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--model-dir", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.quick:
        args.n, args.length, args.batch_size = 4, 200, 4
        args.n_ism, args.n_dls = 1, 2
        args.scale_lengths, args.scale_batch, args.scale_batches = [200, 400], 2, [1, 4]
    if args.n_dls == 0:
        args.n_dls = None
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory_worker:
        return memory_worker(args)
    device = C.resolve_device(args.device)

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    started = time.time()
    print(f"## sparselrp speed benchmark ({'CUDA' if device.startswith('cuda') else 'CPU'}: {device})\n")
    print(f"machine: {C.machine_description(device)}")
    print(f"command: python benchmarks/{Path(__file__).name} {' '.join(sys.argv[1:] if argv is None else argv)}\n")
    if args.quick:
        import tempfile

        model = C._freeze(_tiny_deepsea())
        model_dir = Path(tempfile.mkdtemp(prefix="sparselrp-bench-")) / "tiny_deepsea"
        C.sl.models.save(model, model_dir)
        meta = dict(trained=False, note="--quick: tiny DeepSEA-like model")
    else:
        model, model_dir, meta = C.deepsea_model(epochs=args.epochs, cache=args.cache, log=log)
    model.to(device)
    X = C.random_onehot(args.n, args.length, seed=0)
    print(f"model: DeepSEA-like ({sum(p.numel() for p in model.parameters()):,} parameters), "
          f"{'trained: ' + json.dumps(meta) if meta.get('trained') else 'seeded random weights'}")
    print(f"inputs: {args.n} random sequences (GC 0.41) of {args.length} bp, batch size {args.batch_size}; "
          f"deep_lift_shap on the first {args.n_dls or args.n}, ISM on the first {args.n_ism}")
    mem_note = ("torch.cuda.max_memory_allocated above the baseline, whole run" if device.startswith("cuda") else
                f"peak RSS above the baseline while explaining one batch of {args.batch_size} "
                "(ISM: one sequence), fresh subprocess per method")
    print(f"peak memory: {mem_note}\n")
    rows = run_methods(model, model_dir, X, args, device, log)
    print(main_table(rows))
    text, target_results = targets(rows)
    print("\n### targets (issue 8: ratios from this run; issue 4: pruning overhead)\n")
    print(text)
    scale_rows = []
    if not args.no_scaling:
        print("\n### scaling on the BPNet-like model (sequences per second)\n")
        tab, scale_rows = scaling(args, device, log)
        print(tab)
    print(f"\ntotal wall time {time.time() - started:.0f} s; load average at the end {os.getloadavg()[0]:.2f}")
    C.write_json(args.json, dict(machine=C.machine_description(device), device=device, args=vars(args),
                                 model=meta, rows=rows, targets=target_results, scaling=scale_rows))


if __name__ == "__main__":
    main()
