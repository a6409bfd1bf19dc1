"""Training: AUROC, reproducibility, FASTA / BED inputs, metrics JSON, the CTCF model."""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

import sparselrp as sl
from sparselrp.errors import InputFormatError
from sparselrp.models.train import auroc, fit, train
from sparselrp.simulate import Motif, simulate

MOTIF = "TTGCCACCAGGGGGCGCTA"        # a CTCF-like site, planted exactly


def planted(n, length=60, seed=0):
    pwm = np.zeros((4, len(MOTIF)))
    for i, b in enumerate(MOTIF):
        pwm["ACGT".index(b), i] = 1
    return simulate(n=n, length=length, motifs=[Motif("m", "m", pwm)], rules=["m"], seed=seed)


def decode(X):
    return ["".join("ACGT"[i] for i in x.argmax(0).tolist()) for x in X]


def write_fasta(path, seqs, prefix="s"):
    path.write_text("".join(f">{prefix}{i}\n{s}\n" for i, s in enumerate(seqs)))
    return path


# ----------------------------------------------------------------------------- AUROC

def auroc_reference(y, s):
    pos = [b for a, b in zip(y, s) if a]
    neg = [b for a, b in zip(y, s) if not a]
    wins = sum((p > q) + 0.5 * (p == q) for p in pos for q in neg)
    return wins / (len(pos) * len(neg))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(-3, 3)), min_size=2, max_size=40))
def test_auroc_matches_pairwise_definition(pairs):
    y = [p[0] for p in pairs]
    s = [float(p[1]) for p in pairs]
    if all(y) or not any(y):
        assert np.isnan(auroc(y, s))
    else:
        assert auroc(y, s) == pytest.approx(auroc_reference(y, s))


# ----------------------------------------------------------------------------- fit / reproducibility

def _small_run(seed, sim):
    X, y = sim.X, sim.y
    torch.manual_seed(seed)
    model = sl.models.SmallCNN(n_filters=8, hidden=4, seq_len=60)
    hist = fit(model, X[:80], y[:80], X[80:], y[80:], epochs=2, patience=5, batch_size=16, seed=seed)
    return model, hist


def test_same_seed_same_model():
    sim = planted(120)
    m1, h1 = _small_run(0, sim)
    m2, h2 = _small_run(0, sim)
    m3, _ = _small_run(1, sim)
    for (k, v), v2 in zip(m1.state_dict().items(), m2.state_dict().values()):
        assert torch.equal(v, v2), k
    assert h1["history"] == h2["history"]
    assert any(not torch.equal(v, v3) for v, v3 in zip(m1.state_dict().values(), m3.state_dict().values()))


def test_fit_leaves_caller_rng_and_threads_alone():
    sim = planted(100)
    model = sl.models.SmallCNN(n_filters=8, hidden=4, seq_len=60)
    threads = torch.get_num_threads()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    fit(model, sim.X[:80], sim.y[:80], sim.X[80:], sim.y[80:], epochs=1, seed=7, num_threads=1)
    assert torch.equal(torch.rand(3), expected)
    assert torch.get_num_threads() == threads


def test_train_same_seed_identical_weights(tmp_path):
    sim = planted(100)
    pos = decode(sim.X[sim.y[:, 0] == 1])
    fa = write_fasta(tmp_path / "pos.fa", pos)
    kw = dict(positives=fa, epochs=2, patience=2, arch_kwargs=dict(n_filters=8, hidden=4), batch_size=16)
    r1 = train(seed=5, out_dir=tmp_path / "a", **kw)
    r2 = train(seed=5, out_dir=tmp_path / "b", **kw)
    assert (tmp_path / "a" / "model.safetensors").read_bytes() == (tmp_path / "b" / "model.safetensors").read_bytes()
    m1, m2 = json.loads((tmp_path / "a" / "metrics.json").read_text()), \
        json.loads((tmp_path / "b" / "metrics.json").read_text())
    for m in (m1, m2):
        m.pop("seconds")
    assert m1 == m2
    assert r1.metrics["n_train"] == r2.metrics["n_train"]


def test_early_stopping_restores_best_epoch():
    sim = planted(120)
    model = sl.models.SmallCNN(n_filters=8, hidden=4, seq_len=60)
    # validation labels are noise: AUROC cannot keep improving, so training stops early
    g = torch.Generator().manual_seed(0)
    y_val = (torch.rand(40, 1, generator=g) < 0.5).float()
    hist = fit(model, sim.X[:80], sim.y[:80], sim.X[80:], y_val, epochs=30, patience=2, seed=0, batch_size=16)
    aucs = [h["val_auroc"] for h in hist["history"]]
    assert hist["stopped_early"] and len(aucs) < 30
    assert hist["best_val_auroc"] == max(aucs) == aucs[hist["best_epoch"] - 1]
    assert len(aucs) - hist["best_epoch"] == 2        # patience epochs after the best
    with torch.no_grad():
        scores = model.eval()(sim.X[80:])[:, 0].numpy()
    assert auroc(y_val[:, 0].numpy(), scores) == pytest.approx(hist["best_val_auroc"], abs=1e-6)


# ----------------------------------------------------------------------------- inputs

def test_fasta_positives_with_shuffles_metrics_and_load(tmp_path):
    sim = planted(200)
    pos = decode(sim.X[sim.y[:, 0] == 1])
    # soft-masked FASTA (lower case) must be fine
    fa = write_fasta(tmp_path / "pos.fa", [s[:30].lower() + s[30:] for s in pos])
    res = train(positives=fa, shuffles=2, epochs=3, patience=3, seed=0, out_dir=tmp_path / "m",
                arch_kwargs=dict(n_filters=8, hidden=4), val_fraction=0.2, test_fraction=0.2)
    m = json.loads((tmp_path / "m" / "metrics.json").read_text())
    assert m == res.metrics
    n = len(pos)
    n_test, n_val = round(0.2 * n), round(0.2 * n)
    assert m["n_test"] == 3 * n_test and m["n_val"] == 3 * n_val and m["n_train"] == 3 * (n - n_test - n_val)
    assert m["n_positive_train"] == [n - n_test - n_val]
    assert [h["epoch"] for h in m["history"]] == [1, 2, 3]
    for h in m["history"]:
        assert set(h) == {"epoch", "train_loss", "val_loss", "val_auroc", "val_auroc_per_task"}
    assert 1 <= m["best_epoch"] <= 3 and m["test_auroc"] is not None
    assert m["settings"]["shuffles"] == 2 and m["settings"]["split"] == "sequence"
    model = sl.models.load(tmp_path / "m", device="cpu")
    X = sim.X[:10]
    with torch.no_grad():
        assert torch.equal(model(X), res.model.cpu()(X))
    assert model.sparselrp_config["metadata"]["test_auroc"] == m["test_auroc"]


def test_negatives_fasta_and_multitask(tmp_path):
    sim = simulate(n=160, length=60, motifs=[planted(1).motifs[0], Motif("b", "b", np.eye(4)[:, [0, 0, 3, 3, 1, 2]])],
                   rules=["m", "b"], seed=1)
    a = write_fasta(tmp_path / "a.fa", decode(sim.X[:60]))
    b = write_fasta(tmp_path / "b.fa", decode(sim.X[60:120]))
    neg = write_fasta(tmp_path / "neg.fa", decode(sim.X[120:]))
    res = train(positives=[a, b], negatives=neg, shuffles=0, epochs=1, seed=0, arch_kwargs=dict(n_filters=8),
                task_names=["A", "B"])
    assert res.model.config["n_targets"] == 2
    assert res.metrics["tasks"] == ["A", "B"] and len(res.metrics["test_auroc_per_task"]) == 2
    total = res.metrics["n_train"] + res.metrics["n_val"] + res.metrics["n_test"]
    assert total == 160
    assert res.metrics["n_positive_train"] == [60 - 12 - 6, 60 - 12 - 6]


def _write_genome(tmp_path, rng):
    chroms = {f"chr{i}": "".join(rng.choice(list("ACGT"), 3000)) for i in range(1, 6)}
    (tmp_path / "genome.fa").write_text("".join(f">{c}\n{s}\n" for c, s in chroms.items()))
    return tmp_path / "genome.fa", chroms


def test_bed_genome_labels_split_by_chromosome(tmp_path):
    rng = np.random.default_rng(0)
    genome, chroms = _write_genome(tmp_path, rng)
    # plant the motif into half of the regions; labels say which
    rows, labels = [], []
    for c in chroms:
        seq = list(chroms[c])
        for k in range(20):
            start = 100 + 140 * k
            pos = k % 2 == 0
            if pos:
                seq[start + 20:start + 20 + len(MOTIF)] = MOTIF
            rows.append(f"{c}\t{start}\t{start + 60}\tr{k}\n")
            labels.append(int(pos))
        chroms[c] = "".join(seq)
    (tmp_path / "genome.fa").write_text("".join(f">{c}\n{s}\n" for c, s in chroms.items()))
    bed = tmp_path / "regions.bed"
    bed.write_text("".join(rows))
    lab = tmp_path / "labels.tsv"
    lab.write_text("bound\n" + "".join(f"{v}\n" for v in labels))
    res = train(bed=bed, genome=genome, labels=lab, length=60, epochs=2, seed=0, val_chroms=["chr2"],
                test_chroms=["chr5"], arch_kwargs=dict(n_filters=8))
    s = res.metrics["settings"]
    assert s["split"] == "chromosome" and s["val_chroms"] == ["chr2"] and s["test_chroms"] == ["chr5"]
    assert res.metrics["n_val"] == 20 and res.metrics["n_test"] == 20 and res.metrics["n_train"] == 60
    assert res.metrics["tasks"] == ["bound"]
    # automatic chromosome split: whole chromosomes, disjoint
    res = train(bed=bed, genome=genome, labels=lab, length=60, epochs=1, seed=3, arch_kwargs=dict(n_filters=8))
    s = res.metrics["settings"]
    assert s["val_chroms"] and s["test_chroms"] and not set(s["val_chroms"]) & set(s["test_chroms"])
    assert res.metrics["n_val"] == 20 * len(s["val_chroms"])
    # bad labels: wrong row count, non-binary
    lab.write_text("bound\n1\n0\n")
    with pytest.raises(InputFormatError, match="label rows"):
        train(bed=bed, genome=genome, labels=lab, length=60, epochs=1)
    lab.write_text("bound\n" + "2\n" * 100)
    with pytest.raises(InputFormatError, match="0 or 1"):
        train(bed=bed, genome=genome, labels=lab, length=60, epochs=1)


def test_bad_input(tmp_path):
    with pytest.raises(ValueError, match="either positives"):
        train()
    with pytest.raises(KeyError, match="unknown architecture"):
        train(positives=["ACGT" * 10] * 10, arch="resnet")
    empty = tmp_path / "empty.fa"
    empty.write_text("")
    with pytest.raises(ValueError):
        train(positives=empty)


def test_cli_train(tmp_path):
    from sparselrp.cli import main

    sim = planted(120)
    fa = write_fasta(tmp_path / "pos.fa", decode(sim.X[sim.y[:, 0] == 1]))
    out = tmp_path / "model"
    r = CliRunner().invoke(main, ["train", "--positives", str(fa), "-o", str(out), "--epochs", "2", "--seed", "1",
                                  "--arch-kwargs", '{"n_filters": 8, "hidden": 4}'])
    assert r.exit_code == 0, r.output
    assert "held-out AUROC" in r.output
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "metrics.json", "model.safetensors"]
    assert sl.models.load(out).config["n_filters"] == 8
    r = CliRunner().invoke(main, ["train", "-o", str(out)])
    assert r.exit_code != 0 and "either --positives or --bed" in r.output
    r = CliRunner().invoke(main, ["train", "--positives", str(fa), "-o", str(out), "--arch", "nope"])
    assert r.exit_code == 1 and "unknown architecture" in r.output and "Traceback" not in r.output


# ----------------------------------------------------------------------------- quality (slow)

@pytest.mark.slow
def test_planted_motif_set_reaches_val_auroc_095():
    sim = simulate(n=800, length=100, rules=["CTCF"], seed=0)      # JASPAR CTCF with GATA1/SPI1 decoys
    pos, neg = sim.X[sim.y[:, 0] == 1], sim.X[sim.y[:, 0] == 0]
    res = train(positives=pos, negatives=neg, shuffles=0, epochs=15, patience=3, seed=0, lr=3e-3,
                arch_kwargs=dict(n_filters=32))
    assert res.metrics["best_val_auroc"] >= 0.95
    assert res.metrics["test_auroc"] >= 0.95


@pytest.mark.slow
def test_ctcf_model_held_out_auroc(tmp_path):
    res = sl.models.train_ctcf_model(tmp_path / "ctcf", seed=0)
    assert res.metrics["test_auroc"] >= 0.9
    assert res.metrics["n_test"] == 200
    # the shipped pretrained model is this run
    shipped = sl.models.pretrained("ctcf", device="cpu")
    assert shipped.sparselrp_config["metadata"]["test_auroc"] >= 0.9
    with torch.no_grad():
        X = sl.one_hot_encode_batch([s for _, s in sl.genome.read_fasta(sl.data.ctcf_peaks_fasta())][:50])
        assert torch.allclose(shipped(X), res.model.cpu()(X), atol=1e-5)
