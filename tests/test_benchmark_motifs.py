"""benchmarks/motifs.py: its scoring on known patterns, and a --quick run end to end."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import motifs as B  # noqa: E402
from sparselrp.motifs import Motif, load_jaspar  # noqa: E402


def _jaspar(prefix):
    return next(np.array(p) for tid, _, p in load_jaspar() if tid.startswith(prefix))


def test_score_counts_recovery_rank_and_decoy():
    """A causal motif counts only among the top patterns; the decoy counts anywhere."""
    def motif(prefix, support):
        pwm = _jaspar(prefix)
        return Motif(f"m_{prefix}", pwm=pwm, cwm=pwm, support=support)

    uniform = [Motif(f"u{i}", pwm=np.full((4, 8), 0.25), cwm=np.zeros((4, 8)), support=90 - i) for i in range(3)]
    motifs = [motif("MA0080", 100)] + uniform + [motif("MA0139", 50), motif("MA0035", 40)]
    s = B.score(motifs, top=5)
    assert s["SPI1"]["found"] and s["SPI1"]["rank"] == 1
    assert s["CTCF"]["found"] and s["CTCF"]["rank"] == 5
    assert s["SPI1"]["bits"] == pytest.approx(motifs[0].information_content().sum())
    assert s["GATA1"]["found"]  # rank 6, outside the top 5, still reported
    s = B.score(motifs, top=4)
    assert not s["CTCF"]["found"] and s["CTCF"]["rank"] == 5 and s["CTCF"]["bits"] == 0.0
    assert B.score([], top=5)["CTCF"] == {"found": False, "rank": None, "bits": 0.0, "negative_only": False}
    # a causal motif seen only as a negative pattern is not recovered
    neg = motif("MA0139", 60)
    neg.sign = "negative"
    s = B.score([motif("MA0080", 100), neg], top=5)
    assert not s["CTCF"]["found"] and s["CTCF"]["negative_only"] and s["CTCF"]["rank"] == 2


@pytest.mark.slow
def test_quick_run(tmp_path):
    out = tmp_path / "m.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "motifs.py"), "--quick", "--archs", "small_cnn",
                           "--paths", "sparselrp", "gxi", "--json", str(out)],
                          capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "## checks (issue 16)" in proc.stdout and "sparselrp (sl.plrp -> discover)" in proc.stdout
    assert out.is_file()
