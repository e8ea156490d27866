"""Shared fixtures: the models folder the project's set-up filled, real images from ../shared/data."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
MODELS = Path(os.environ.get("NST_MODELS_DIR", ROOT / "build" / "models"))
WEIGHTS = ROOT / "build" / "weights"
DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(SCRIPTS))
os.environ["NST_MODELS_DIR"] = str(MODELS)   # for the command-line tests' subprocesses


def pytest_configure(config):
    if not (MODELS / "manifest.json").is_file():
        raise pytest.UsageError(f"no models in {MODELS}: run `make test` (it fetches and exports them)")


@pytest.fixture(scope="session")
def models_dir() -> Path:
    return MODELS


@pytest.fixture(scope="session")
def paddings(models_dir) -> dict[str, str]:
    """How each exported network pads (torch_models.PADDINGS), so torch references match them."""
    import json
    models = json.loads((models_dir / "manifest.json").read_text())["models"]
    return {name: entry.get("padding", "layer") for name, entry in models.items()}


@pytest.fixture(scope="session")
def weights_dir() -> Path:
    if not (WEIGHTS / "encoder5.pth").is_file():
        pytest.fail(f"no weights in {WEIGHTS}: run `make models`")
    return WEIGHTS


# NST_TEST_DEVICE=cuda runs the suite's shared runtime on the GPU (docs/testing.md); CI has none.
DEVICE = os.environ.get("NST_TEST_DEVICE", "cpu")


@pytest.fixture(scope="session")
def runtime(models_dir):
    import nst_core

    return nst_core.Runtime(models_dir, device=DEVICE)


def _load(rel: str, size: tuple[int, int]) -> np.ndarray:
    import nst_core
    from nst_core.images import resize

    path = DATA / rel
    if not path.is_file():
        pytest.skip(f"{path} not available (../shared/data is needed for real-image tests)")
    return np.clip(resize(nst_core.load_image(path)[..., :3], *size), 0, 1)


@pytest.fixture(scope="session")
def photo() -> np.ndarray:
    return _load("content/kodak_kodim23.png", (128, 192))


PAINTINGS = ("vangogh_starry_night", "hokusai_great_wave")   # also built-in StyleBank styles


@pytest.fixture(scope="session")
def painting() -> np.ndarray:
    return _load(f"style/{PAINTINGS[0]}.jpg", (160, 208))


@pytest.fixture(scope="session")
def painting2() -> np.ndarray:
    return _load(f"style/{PAINTINGS[1]}.jpg", (160, 224))


def styles_for(method: str, painting, painting2) -> tuple:
    """The two test styles as ``method`` takes them: the images, or for StyleBank the names of the
    built-in banks trained on those same paintings."""
    return PAINTINGS if method == "stylebank" else (painting, painting2)


def real_pairs(n: int, size=(192, 256)) -> list[tuple[np.ndarray, np.ndarray]]:
    contents = ["content/kodak_kodim01.png", "content/bike.jpg", "content/chicago.jpg", "content/flowers.jpg"]
    styles = ["style/vangogh_starry_night.jpg", "style/munch_the_scream.jpg",
              "style/kandinsky_composition_vii.jpg", "style/monet_etretat.jpg"]
    return [(_load(c, size), _load(s, size)) for c, s in list(zip(contents, styles))[:n]]


def _blender_side():
    sys.path.insert(0, str(ROOT / "tests" / "blender"))
    import extension
    return extension


@pytest.fixture(scope="session")
def extension_zip(tmp_path_factory) -> Path:
    """The extension zip for the Python of the Blender under test (tests/blender)."""
    extension = _blender_side()
    return extension.build(extension.python_version(), tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="session")
def facts(extension_zip, tmp_path_factory) -> dict:
    """What every scenario of tests/blender measured, run once in Blender with a temporary HOME
    (no real user configuration is touched)."""
    extension = _blender_side()
    return extension.run_scenarios(extension_zip, tmp_path_factory.mktemp("home"),
                                   tmp_path_factory.mktemp("work"))


def random_features(seed: int, c: int = 8, n: int = 500) -> np.ndarray:
    """C×N float32 features with correlated channels and an offset, reproducible by seed."""
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(c, c)) @ rng.normal(size=(c, n)) + rng.normal(size=(c, 1))).astype(np.float32)
