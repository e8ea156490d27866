"""The pytest side of the extension's tests: build the zip, install it into a temporary HOME and
run every scenario in one Blender process (harness.py). Importing this file runs nothing, so the
Blender side can import the test files that import it."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
DATA = ROOT.parent / "shared" / "data"
STYLE = DATA / "style" / "vangogh_starry_night.jpg"
# Another bpy (`make test-blender42` / `test-blender45`: Blender 4.2 / 4.5 LTS in their own venvs)
# can run the same scenarios.
BLENDER_PYTHON = os.environ.get("NST_BLENDER_PYTHON", sys.executable)


def build_extension():
    sys.path.insert(0, str(ROOT / "scripts"))
    import build_extension as module
    return module


def platform_name() -> str:
    machine = platform.machine().lower()
    if sys.platform.startswith("linux") and machine in ("x86_64", "amd64"):
        return "linux-x64"
    if sys.platform == "win32":
        return "windows-x64"
    if sys.platform == "darwin" and machine == "arm64":
        return "macos-arm64"
    pytest.skip(f"no extension build for {sys.platform} {machine}")


def python_version(executable: str = BLENDER_PYTHON) -> str:
    """The Python version (e.g. "3.11") of the Blender that runs the scenarios."""
    r = subprocess.run([executable, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                       capture_output=True, text=True, check=True)
    return r.stdout.strip()


def other_python() -> str:
    """A Python whose Blender versions are not the ones under test."""
    return next(p for p in build_extension().PYTHONS if p != python_version())


def build(python: str, out: Path) -> Path:
    return build_extension().build(platform_name(), "cpu", python, ROOT / "build" / "models",
                                   ROOT / "build" / "wheels", out)


def isolated_env(home: Path) -> dict:
    return {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}


# Scenario modules run in a Blender process of their own (after the others, each with
# test_init's install): test_motion_scenes takes 350 s of the 620 s all take (bpy 4.2.0, 2-core
# CPU, 2026-12-07), and one process for all had come within 75 s of LIMIT under `make test`.
APART = ("test_motion_scenes",)
LIMIT = 900                             # seconds a Blender process of scenarios may take


def run_scenarios(zip_path: Path, home: Path, work: Path) -> dict:
    """Every scenario of every tests/blender/test_*.py: those of APART each in a Blender
    process of its own, the others in one; test_init's scenarios (install, reregister) in each,
    its facts the first process's."""
    if not STYLE.is_file():
        pytest.skip(f"{STYLE} not available")
    modules = sorted(p.stem for p in HERE.glob("test_*.py") if p.stem != "test_init")
    shares = [[m for m in modules if m not in APART], *([m] for m in APART if m in modules)]
    results: dict = {}
    for i, share in enumerate(shares):
        (home / str(i)).mkdir()
        (work / str(i)).mkdir()
        r = subprocess.run([BLENDER_PYTHON, str(HERE / "harness.py"), str(zip_path), str(STYLE),
                            str(work / str(i)), "test_init", *share],
                           capture_output=True, text=True, env=isolated_env(home / str(i)),
                           timeout=LIMIT)
        lines = [line for line in r.stdout.splitlines() if line.startswith("NST-RESULTS ")]
        assert lines, (f"the Blender harness ({', '.join(share)}) printed no results "
                       f"(exit {r.returncode}):\n{r.stderr[-3000:]}")
        for name, found in json.loads(lines[-1][len("NST-RESULTS "):]).items():
            results.setdefault(name, found)
    return results
