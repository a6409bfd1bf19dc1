"""Helpers shared by the workflow tests (test_pipeline.py, test_slurm_profile.py)."""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

VENV_BIN = Path(sys.executable).parent
SNAKEMAKE = shutil.which("snakemake", path=str(VENV_BIN)) or shutil.which("snakemake")

def _default_attribute():
    import yaml

    from sparselrp.pipeline import workflow_dir

    return yaml.safe_load((workflow_dir() / "config.yaml").read_text())["attribute"]


# `sparselrp attribute` arguments equal to what the workflow configs of the tests ask for (batch 128 on the
# CPU; composite and pruning as the packaged config.yaml says, so that a new default cannot drift from these)
_A = _default_attribute()
ATTR_ARGS = ["--target", str(_A["target"]), "--composite", _A["composite"], "--batch-size", "128", "--device", "cpu",
             "--sparse"] + (["--prune-mass", str(_A["prune_mass"])] if _A["prune_mass"] is not None else
                            ["--topk", str(_A["topk"])] if _A["topk"] is not None else ["--no-prune"])


def run_sparselrp(*args, cwd=None):
    """Run the ``sparselrp`` CLI of this environment; fail the test on a non-zero exit."""
    exe = VENV_BIN / "sparselrp"
    res = subprocess.run([str(exe) if exe.exists() else "sparselrp", *map(str, args)], cwd=cwd,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    return res


def load_attr(path):
    """Attributions of a dense or sparse npz as a numpy array ``(N, 4, L)``."""
    from sparselrp.io.attributions import load_attributions

    return load_attributions(path).numpy()


def assert_rel_close(a, b, rel=1e-6):
    """``a`` equals ``b`` to ``rel`` relative to ``b``'s largest magnitude."""
    assert a.shape == b.shape
    scale = max(float(np.abs(b).max()), 1e-30)
    np.testing.assert_allclose(a, b, rtol=rel, atol=rel * scale)
