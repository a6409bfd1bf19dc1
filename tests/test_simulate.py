"""Planted-motif simulation: ground truth matches the planted instances; seeded; files."""

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import sparselrp as sl
from sparselrp.simulate import Motif, load_simulation, simulate


def exact_motif(name, seq):
    """A motif that always samples ``seq`` (probability 1 per column)."""
    pwm = np.zeros((4, len(seq)))
    for i, b in enumerate(seq):
        pwm["ACGT".index(b), i] = 1.0
    return Motif(name, name, pwm)


A = exact_motif("mA", "ACGTTGACCA")
B = exact_motif("mB", "GGGATTTCC")
C = exact_motif("mC", "TATAAAAG")


def onehot_of(seq):
    return torch.tensor([[float(b == x) for b in seq] for x in "ACGT"])


def mask_from_instances(sim):
    mask = torch.zeros_like(sim.mask)
    for inst in sim.instances:
        if inst.relevant:
            mask[inst.seq, inst.start:inst.end] = True
    return mask


def test_planted_positions_and_mask():
    sim = simulate(n=300, length=100, motifs=[A, B, C], rules=["mA AND mB OR mC"], seed=3)
    assert sim.X.shape == (300, 4, 100) and sim.X.dtype == torch.float32
    assert sim.y.shape == (300, 1) and sim.mask.shape == (300, 100) and sim.mask.dtype == torch.bool
    assert torch.all(sim.X.sum(1) == 1)
    assert sim.y.sum() == 150                                         # balanced
    # every instance is where the table says, on its strand
    motifs = {m.id: m for m in (A, B, C)}
    for inst in sim.instances:
        seq = "".join("ACGT"[i] for i in motifs[inst.motif_id].pwm.argmax(0))
        expected = onehot_of(seq)
        if inst.strand == "-":
            expected = expected.flip(0, 1)
        assert torch.equal(sim.X[inst.seq, :, inst.start:inst.end], expected)
    assert {i.strand for i in sim.instances} == {"+", "-"}
    # no overlaps within a sequence
    by_seq = {}
    for inst in sim.instances:
        by_seq.setdefault(inst.seq, []).append((inst.start, inst.end))
    for spans in by_seq.values():
        spans.sort()
        assert all(e <= s2 for (_, e), (s2, _) in zip(spans, spans[1:]))
    # the mask is exactly the relevant instances
    assert torch.equal(sim.mask, mask_from_instances(sim))
    assert torch.equal(sim.task_mask[:, 0], sim.mask)
    # labels and relevance follow the rule, computed here from the table
    for i in range(300):
        names = {inst.motif_name for inst in sim.instances if inst.seq == i}
        label = ("mA" in names and "mB" in names) or "mC" in names
        assert bool(sim.y[i, 0]) == label
        rel = {inst.motif_name for inst in sim.instances if inst.seq == i and inst.relevant}
        want = set()
        if label:
            if {"mA", "mB"} <= names:
                want |= {"mA", "mB"}
            if "mC" in names:
                want.add("mC")
        assert rel == want
        if not label:
            assert not sim.mask[i].any()
    # the grammar is non-trivial: some negatives hold part of the AND clause
    neg_with_partial = [i for i in range(300) if sim.y[i, 0] == 0 and
                        any(inst.seq == i and inst.motif_name in ("mA", "mB") for inst in sim.instances)]
    assert neg_with_partial


def test_decoys_in_both_classes_and_multitask():
    sim = simulate(n=400, length=120, motifs=[A, B, C], rules=["mA", "mB"], seed=1)
    assert sim.y.shape == (400, 2) and sim.task_mask.shape == (400, 2, 120)
    decoy = np.zeros(400, dtype=bool)
    for inst in sim.instances:
        if inst.motif_name == "mC":
            decoy[inst.seq] = True
            assert not inst.relevant
    y0 = sim.y[:, 0].numpy().astype(bool)
    assert decoy[y0].mean() > 0.3 and decoy[~y0].mean() > 0.3
    for t, name in enumerate(["mA", "mB"]):
        tm = torch.zeros(400, 120, dtype=torch.bool)
        for inst in sim.instances:
            if inst.motif_name == name:
                tm[inst.seq, inst.start:inst.end] = True
        assert torch.equal(sim.task_mask[:, t], tm)
    assert torch.equal(sim.mask, sim.task_mask.any(1))


def test_spacing_and_orientation():
    sim = simulate(n=200, length=100, motifs=[A, B], rules=["mA AND mB"], spacing=(3, 6), orientation="forward",
                   seed=2)
    assert {i.strand for i in sim.instances} == {"+"}
    for i in torch.nonzero(sim.y[:, 0]).flatten().tolist():
        a = next(x for x in sim.instances if x.seq == i and x.motif_name == "mA")
        b = next(x for x in sim.instances if x.seq == i and x.motif_name == "mB")
        assert 3 <= b.start - a.end <= 6


def test_same_seed_same_data_and_different_seed():
    s1 = simulate(n=100, length=80, motifs=[A, B], rules=["mA OR mB"], seed=7)
    s2 = simulate(n=100, length=80, motifs=[A, B], rules=["mA OR mB"], seed=7)
    s3 = simulate(n=100, length=80, motifs=[A, B], rules=["mA OR mB"], seed=8)
    assert torch.equal(s1.X, s2.X) and torch.equal(s1.y, s2.y) and s1.instances == s2.instances
    assert not torch.equal(s1.X, s3.X)


def test_gc_content():
    sim = simulate(n=200, length=200, motifs=[A], rules=["mA"], p_present=0.5, gc=0.7, seed=0)
    outside = ~sim.mask & ~mask_from_all(sim)
    gc = (sim.X[:, 1] + sim.X[:, 2])[outside].mean()
    assert abs(float(gc) - 0.7) < 0.02


def mask_from_all(sim):
    mask = torch.zeros_like(sim.mask)
    for inst in sim.instances:
        mask[inst.seq, inst.start:inst.end] = True
    return mask


def _dinuc_counts(X):
    idx = X.argmax(1)                               # (N, L)
    pairs = idx[:, :-1] * 4 + idx[:, 1:]
    return torch.stack([torch.bincount(p, minlength=16) for p in pairs])


def test_shuffled_real_background():
    g = torch.Generator().manual_seed(0)
    real = torch.nn.functional.one_hot(torch.randint(0, 4, (5, 90), generator=g), 4).permute(0, 2, 1).float()
    sim = simulate(n=30, length=80, motifs=[A], rules=["mA"], p_present=0.0, balance=False, background=real,
                   seed=0)
    assert sim.y.sum() == 0 and not sim.instances
    centre = real[:, :, 5:85]
    ref = _dinuc_counts(centre)
    got = _dinuc_counts(sim.X)
    for row in got:                                  # each is a dinucleotide shuffle of one real sequence
        assert any(torch.equal(row, r) for r in ref)


def test_default_jaspar_motifs():
    sim = simulate(n=60, length=150, seed=0)
    ids = [m.id for m in sim.motifs]
    assert ids[0].startswith("MA0139") and sim.motifs[0].name == "CTCF"
    assert len(ids) == 3
    for m in sim.motifs:
        assert np.allclose(m.pwm.sum(0), 1) and (m.pwm > 0).all()
    assert torch.equal(sim.mask, mask_from_instances(sim))
    assert all(i.relevant == (i.motif_name == "CTCF") for i in sim.instances)
    old = sl.simulate.jaspar_motifs(["MA0139"], release="JASPAR2018")
    assert old[0].id == "MA0139.1"


def test_bad_arguments():
    with pytest.raises(ValueError, match="not one of the motifs"):
        simulate(n=10, motifs=[A], rules=["mZ"])
    with pytest.raises(ValueError, match="does not fit"):
        simulate(n=10, length=5, motifs=[A], rules=["mA"])
    with pytest.raises(ValueError, match="no room"):
        simulate(n=10, length=12, motifs=[A, B], rules=["mA"], p_present=1.0, balance=False)
    with pytest.raises(ValueError, match="orientation"):
        simulate(n=10, motifs=[A], rules=["mA"], orientation="up")


def test_save_and_load_round_trip(tmp_path):
    sim = simulate(n=50, length=60, motifs=[A, B], rules=["mA AND mB", "mB"], seed=4)
    sim.save(tmp_path / "sim")
    with np.load(tmp_path / "sim" / "ohe.npz") as f:
        assert list(f.keys()) == ["arr_0"] and f["arr_0"].shape == (50, 4, 60)
    back = load_simulation(tmp_path / "sim")
    assert torch.equal(back.X, sim.X) and torch.equal(back.y, sim.y)
    assert torch.equal(back.mask, sim.mask) and torch.equal(back.task_mask, sim.task_mask)
    assert back.instances == sim.instances and back.tasks == sim.tasks
    header = (tmp_path / "sim" / "instances.tsv").read_text().splitlines()[0].split("\t")
    assert header == ["seq", "motif_id", "motif_name", "start", "end", "strand", "relevant"]


def test_cli_simulate(tmp_path):
    from sparselrp.cli import main

    result = CliRunner().invoke(main, ["simulate", "-o", str(tmp_path / "s"), "--n", "40", "--length", "120",
                                       "--rule", "CTCF AND GATA1", "--spacing", "2,8", "--seed", "1"])
    assert result.exit_code == 0, result.output
    sim = load_simulation(tmp_path / "s")
    assert sim.X.shape == (40, 4, 120) and sim.y.sum() == 20
    assert torch.equal(sim.mask, mask_from_instances(sim))
    bad = CliRunner().invoke(main, ["simulate", "-o", str(tmp_path / "t"), "--rule", "NOTAMOTIF"])
    assert bad.exit_code == 1 and "error:" in bad.output and "Traceback" not in bad.output
