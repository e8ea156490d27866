"""nst_core runs with torch and bpy impossible to import (the product never needs them)."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import sys
sys.modules['torch'] = None
sys.modules['bpy'] = None
import numpy as np, nst_core
rgb = np.random.default_rng(0).random((40, 40, 3), dtype=np.float32)
r = nst_core.stylize(rgb, rgb, method='wct', device='cpu')
assert r.image.shape == (40, 40, 3)
assert 'torch' not in [m for m in sys.modules if sys.modules[m] is not None]
print('ok')
"""


def test_no_torch_no_bpy(models_dir):
    r = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=300,
                       env={"NST_MODELS_DIR": str(models_dir), "PATH": ""})
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
