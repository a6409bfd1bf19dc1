"""The HTML report: one self-contained file, every section, escaped text; the logo and report CLIs."""

import base64
import json
import os
from html.parser import HTMLParser
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner

from sparselrp.plot.report import SECTIONS, render_report, summarise_attributions, write_report

EVIL = '<script>alert("x")</script>&amp;'


class Tags(HTMLParser):
    """Every start tag with its attributes, and the page's visible text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags = []
        self.text = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse(html):
    p = Tags()
    p.feed(html)
    return p


def tiny_inputs(n=2, length=120, dense=True):
    rng = np.random.default_rng(0)
    X = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (n, length))].transpose(0, 2, 1)
    R = np.zeros_like(X)
    R[:, :, 50:60] = X[:, :, 50:60] * rng.normal(size=(n, 1, 10))
    seqs = [{"name": f"seq{i}" if i else EVIL, "X": X[i], "R": R[i], "score": 1.5 + i} for i in range(n)]
    if dense:
        for i, s in enumerate(seqs):
            s["R_dense"] = R[i] + 0.01 * X[i]
    pwm = rng.dirichlet(np.ones(4), size=8).T
    motif = SimpleNamespace(
        name=f"motif {EVIL}", pwm=pwm, cwm=pwm - 0.25, hcwm=None, support=7,
        matches=[{"target_id": "MA0139.2", "target_name": f"CTCF{EVIL}", "p_value": 1.2e-7, "q_value": 3e-5,
                  "offset": 1, "orientation": "+"}],
    )
    motif_dict = {"name": "m2", "pwm": pwm, "cwm": pwm, "hcwm": pwm - 0.1, "support": 3, "matches": []}
    return dict(
        params={"composite": "best-practice", EVIL: EVIL, "nested": {"a": [1, 2]}},
        summary=summarise_attributions(R, R),
        layer_sparsity={"conv1": 0.3, f"conv2{EVIL}": 0.7},
        sequences=seqs,
        motifs=[motif, motif_dict],
        seqlets=[{"seq": 0, "start": 48, "end": 62, "score": 0.4, "name": EVIL}],
        trust={"flags": ["border", EVIL], "checks": [
            {"name": "border", "value": 0.31, "threshold": 0.2, "passed": False},
            {"name": "bias", "value": 0.01, "threshold": 0.2, "passed": True, "verdict": EVIL},
            {"name": "strand"}], "composite": "epsilon", "per_sample": {"x": [1, 2, 3]}},
        title=f"report {EVIL}",
    )


def assert_self_contained(html):
    p = parse(html)
    imgs = [a for t, a in p.tags if t == "img"]
    for tag, attrs in p.tags:
        assert tag not in ("script", "link", "iframe", "object", "embed", "base"), tag
        for key in ("src", "href", "srcset", "data", "poster", "action"):
            v = attrs.get(key)
            if v is None:
                continue
            if key == "href":
                assert v.startswith("#"), v  # in-page navigation only
            else:
                assert v.startswith("data:image/"), v
    low = html.lower()
    assert "http://" not in low and "https://" not in low and "@import" not in low and "url(" not in low
    for a in imgs:
        head, data = a["src"].split(",", 1)
        raw = base64.b64decode(data, validate=True)
        assert raw[:8] == b"\x89PNG\r\n\x1a\n" if "png" in head else b"<svg" in raw
    return p, imgs


def test_report_has_every_section_and_is_self_contained(tmp_path):
    path = write_report(tmp_path / "report.html", **tiny_inputs())
    assert sorted(os.listdir(tmp_path)) == ["report.html"]  # one file, no temporary left over
    html = path.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    p, imgs = assert_self_contained(html)
    ids = [a.get("id") for t, a in p.tags if t == "section"]
    assert ids == [sid for sid, _ in SECTIONS]
    # 1 layer plot + 2 sequence figures + motif 1 (PWM, CWM) + motif 2 (PWM, CWM, hCWM)
    assert len(imgs) == 1 + 2 + 2 + 3
    text = " ".join(p.text)
    for _, label in SECTIONS:
        assert label in text
    assert "MA0139.2" in text and "1.20e-07" in text and "3.00e-05" in text
    assert "7 seqlets" in text and "8 columns" in text
    assert "nested.a" in text  # nested parameters are flattened to dotted keys
    assert "flagged" in text and "passed" in text


def test_report_escapes_all_text():
    html = render_report(**tiny_inputs())
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;amp;" in html
    # every occurrence of the raw string is the escaped one (names, params, trust, seqlets, alt texts)
    assert html.count("&lt;script&gt;") >= 8
    p = parse(html)
    assert any(EVIL in t for t in p.text)  # and it reads back as the original text


def test_report_with_nothing_but_a_title_still_has_every_section():
    html = render_report(title="empty")
    p, imgs = assert_self_contained(html)
    assert [a.get("id") for t, a in p.tags if t == "section"] == [sid for sid, _ in SECTIONS]
    assert imgs == []
    text = " ".join(p.text)
    for what in ("No run parameters given", "No summary given", "No per-layer sparsity given",
                 "No sequences given", "No motifs given", "No seqlet table given", "No diagnostics given"):
        assert what in text


@pytest.mark.parametrize("trust", [
    {},
    {"flags": []},
    {"checks": [{"name": "bias", "passed": True}]},
    {"flags": ["randomisation"]},
    {"checks": ["not a dict", {"value": np.float32(0.5)}], "extra": np.arange(3)},
    {"figures": {"x": "http://evil/x.png", "y": "data:image/png;base64,iVBORw0KGgo="}},
])
def test_trust_section_is_robust_to_missing_keys(trust):
    html = render_report(trust=trust)
    assert_self_contained(html)
    body = html.split('id="trust"', 1)[1]
    if trust.get("flags") == []:
        assert "No check tripped" in body
    if trust.get("flags") == ["randomisation"]:
        assert "1 check tripped" in body and "architecture" in body
    assert "evil" not in body


def test_trust_verdicts_in_plain_language():
    html = render_report(trust={"flags": ["bias", "border", "n-columns", "randomisation", "strand"],
                                "checks": [{"name": "border", "value": 3.0, "threshold": 2.0, "passed": False}]})
    body = html.split('id="trust"', 1)[1]
    assert "5 checks tripped" in body
    for phrase in ("Bias terms absorbed", "zero padding", "Unknown (N)", "randomised", "reverse-complement"):
        assert phrase in body
    # a failed check without a verdict gets the plain-language explanation
    assert body.count("zero padding") == 2


def test_seqlet_table_forms_and_truncation():
    cols = {"seq": [0, 1, 2], "start": [1, 2, 3], "end": [5, 6, 7], "score": [0.5, 0.25, 0.125]}
    as_records = [dict(zip(cols, vals)) for vals in zip(*cols.values())]
    obj = SimpleNamespace(to_records=lambda: as_records)
    outs = [render_report(seqlets=s, max_seqlet_rows=2) for s in (cols, as_records, obj)]
    bodies = [o.split('id="seqlets"', 1)[1].split("</section>")[0] for o in outs]
    assert bodies[0] == bodies[1] == bodies[2]
    assert "Showing the first 2 of 3 rows" in bodies[0] and "3 seqlets" in bodies[0]
    assert bodies[0].count("<tr>") == 3  # header + 2 rows
    with pytest.raises(ValueError, match="different lengths"):
        render_report(seqlets={"a": [1, 2], "b": [1]})
    assert "The seqlet table is empty" in render_report(seqlets=[])


def test_write_report_errors_leave_nothing(tmp_path):
    with pytest.raises(FileNotFoundError):
        write_report(tmp_path / "missing" / "r.html", title="x")
    bad = tiny_inputs()
    bad["sequences"][1]["R"] = np.zeros((4, 7))
    with pytest.raises(ValueError, match="same shape"):
        write_report(tmp_path / "r.html", **bad)
    assert os.listdir(tmp_path) == []


def gini_reference(x):
    """Mean absolute difference over twice the mean (the Gini index), by brute force."""
    x = np.asarray(x, dtype=float)
    n = len(x)
    return sum(abs(a - b) for a in x for b in x) / (2 * n * n * x.mean())


def test_summarise_attributions():
    rng = np.random.default_rng(1)
    R = rng.normal(size=(3, 4, 20)) * (rng.random((3, 1, 20)) < 0.5)
    R[2] = 0.0  # an all-zero map is left out of the Gini average and counted
    s = summarise_attributions(R, outputs=R.sum(axis=(1, 2)) + 1.0)
    r = R.sum(axis=1)
    assert s["sequences"] == 3 and s["length"] == 20
    assert s["attribution: share of zero positions"] == pytest.approx((r == 0).mean())
    assert s["attribution: Gini of |r|"] == pytest.approx(np.mean([gini_reference(np.abs(r[i])) for i in (0, 1)]))
    assert s["attribution: all-zero maps"] == 1
    assert s["attribution: conservation gap"] == pytest.approx(1.0 / np.abs(R.sum(axis=(1, 2)) + 1.0).mean())
    both = summarise_attributions(R, R_dense=R + 1.0)
    assert "dense: Gini of |r|" in both and "pruned: Gini of |r|" in both
    with pytest.raises(ValueError, match="shape"):
        summarise_attributions(np.zeros((3, 20)))


# ----------------------------------------------------------------------------- CLI


@pytest.fixture
def run_files(tmp_path):
    from sparselrp.io.attributions import save_attributions
    from sparselrp.io.onehot import save_onehot

    rng = np.random.default_rng(0)
    n, length = 5, 150
    X = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (n, length))].transpose(0, 2, 1)
    R = np.zeros_like(X)
    for i in range(n):
        R[i, :, 40 + 10 * i:50 + 10 * i] = X[i, :, 40 + 10 * i:50 + 10 * i] * (i + 1)
    save_onehot(tmp_path / "ohe.npz", X, names=[f"peak{i}" for i in range(n)],
                coords={"chrom": np.array(["chr2"] * n), "start": np.arange(n) * 1000,
                        "end": np.arange(n) * 1000 + length, "strand": np.array(["+", "-", "+", "-", "+"])})
    save_attributions(tmp_path / "attr.npz", R, sparse=True)
    save_attributions(tmp_path / "dense.npz", R + 0.01 * X)
    (tmp_path / "params.json").write_text(json.dumps({"composite": "epsilon", "note": EVIL}))
    (tmp_path / "stats.json").write_text(json.dumps({
        "n": n, "mean_conservation_error": 0.02,
        "layers": {"conv1": {"units": 640, "zero_share": 0.5, "gini": 0.75}, "fc": {"zero_share": 0.9}}}))
    (tmp_path / "trust.json").write_text(json.dumps({"flags": ["bias"], "checks": []}))
    return tmp_path


def cli(*args):
    from sparselrp.cli import main

    return CliRunner().invoke(main, [str(a) for a in args])


def test_logo_cli(run_files):
    d = run_files
    res = cli("logo", "-a", d / "attr.npz", "-s", d / "ohe.npz", "-o", d / "logos", "--n", 2)
    assert res.exit_code == 0, res.output
    # the two sequences with the largest total relevance: peak4 (5 x ...) and peak3
    assert sorted(os.listdir(d / "logos")) == ["0000_peak4.png", "0001_peak3.png"]
    res = cli("logo", "-a", d / "attr.npz", "-s", d / "ohe.npz", "-o", d / "svg", "--n", 9, "--sort", "index",
              "--format", "svg", "--dense-attr", d / "dense.npz", "--crop", 0)
    assert res.exit_code == 0, res.output
    assert sorted(os.listdir(d / "svg")) == [f"000{i}_peak{i}.svg" for i in range(5)]
    assert (d / "svg" / "0000_peak0.svg").read_bytes().lstrip().startswith(b"<?xml")


def test_report_cli(run_files):
    d = run_files
    out = d / "report.html"
    res = cli("report", "-s", d / "ohe.npz", "-a", d / "attr.npz", "--dense-attr", d / "dense.npz",
              "--params", d / "params.json", "--stats", d / "stats.json", "--diagnostics", d / "trust.json",
              "--top", 3, "-o", out)
    assert res.exit_code == 0, res.output
    assert res.output.strip() == str(out.resolve())
    html = out.read_text()
    p, imgs = assert_self_contained(html)
    assert len(imgs) == 1 + 3  # layer plot + three sequence pairs
    text = " ".join(p.text)
    assert "chr2:4000-4150(+)" in text and "chr2:3000-3150(-)" in text  # top sequences, with coordinates
    assert "peak0" not in text.split("Top sequences", 1)[1].split("Discovered patterns")[0]
    assert "share of zeros" in html and "mean_conservation_error" in text
    assert EVIL in text and "<script>" not in html
    assert "1 check tripped" in text


@pytest.mark.parametrize("extra,message", [
    (["--params", "bad.json"], "bad.json, line 1: parameter file is not valid JSON"),
    (["--params", "list.json"], "must be a JSON object"),
    (["--seqlets", "list.json"], "not a seqlet table"),
    (["--motifs", "bad.json"], "bad.json"),
    (["--dense-attr", "short.npz"], "do not match"),
])
def test_report_cli_bad_inputs_one_line_error(run_files, extra, message):
    from sparselrp.io.attributions import save_attributions

    d = run_files
    (d / "bad.json").write_text("{bad")
    (d / "list.json").write_text("[1, 2]")
    save_attributions(d / "short.npz", np.zeros((2, 4, 150), np.float32))
    args = ["report", "-s", d / "ohe.npz", "-a", d / "attr.npz", "-o", d / "r.html"]
    args += [d / e if e.endswith((".json", ".npz")) else e for e in extra]
    res = cli(*args)
    assert res.exit_code == 1
    assert "Traceback" not in res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("sparselrp: error: ") and message in lines[0]
    assert not (d / "r.html").exists()


def test_positive_and_negative_patterns_with_examples():
    """Motifs with a sign are listed in two groups; each example seqlet is cut to the trimmed
    columns and oriented as the motif (reverse complemented for '-' seqlets)."""
    from sparselrp.motifs import Motif
    from sparselrp.plot.report import motif_examples

    rng = np.random.default_rng(1)
    n, length = 4, 60
    X = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (n, length))].transpose(0, 2, 1)
    H = rng.normal(size=X.shape).astype(np.float32)
    pwm = rng.dirichlet(np.ones(4), size=6).T
    seqlets = [(0, 10, 20, "+"), (1, 30, 40, "-"), (3, 0, 10, "+"), (9, 0, 10, "+")]  # the last is not in X
    pos = Motif("pos_patterns.pattern_0", pwm=pwm, cwm=pwm, hcwm=pwm, support=4, sign="positive",
                seqlets=seqlets, trim=(2, 8), matches=[{"target_id": "X1", "target_name": "ONE", "p": 1e-6,
                                                        "q": 2e-4, "database": "db.meme"}])
    neg = Motif("neg_patterns.pattern_0", pwm=pwm, cwm=-pwm, hcwm=-pwm, support=3, sign="negative")
    ex = motif_examples(pos, X, H, names=[f"s{i}" for i in range(n)], n=5)
    assert len(ex) == 3  # the seqlet outside X is skipped
    contrib = X * H
    for e in ex:
        name, window, strand = e["name"].split(" ")
        i = int(name[1:])
        a, b = (int(v) for v in window.split("-"))
        assert b - a == 6
        x, r = X[i, :, a:b], contrib[i, :, a:b]
        if strand == "(-)":
            x, r = x[::-1, ::-1], r[::-1, ::-1]
            assert (a, b) == (32, 38)  # end - hi .. end - lo for the reverse strand
        np.testing.assert_array_equal(e["X"], x)
        np.testing.assert_allclose(e["R"], r, rtol=1e-6)
    sums = [abs(e["R"].sum()) for e in ex]
    assert sums == sorted(sums, reverse=True)
    html = render_report(motifs=[pos, neg], motif_examples={pos.name: ex})
    p, imgs = assert_self_contained(html)
    assert len(imgs) == 3 + 3 + 3  # PWM, CWM, hCWM of each motif, three examples
    text = " ".join(p.text)
    assert "Positive patterns (1)" in text and "Negative patterns (1)" in text
    assert text.index("pos_patterns.pattern_0") < text.index("Negative patterns") < text.index("neg_patterns.pattern_0")
    assert "db.meme" in text and "2.00e-04" in text and "Example seqlets" in text
    only_pos = " ".join(parse(render_report(motifs=[pos])).text)
    assert "No negative patterns." in only_pos
