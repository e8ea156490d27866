"""Build the installable Blender extension zips into dist/.

Each zip holds the add-on (addon/ as the extension root), nst_core as a sub-package, the ONNX
models and the wheels of onnxruntime, Pillow and their pure dependencies for one platform and
one Python: Blender 4.2-5.0 embed Python 3.11, 5.1 and later 3.13, so there is a zip for each,
its manifest limited to those Blender versions (Blender refuses the other one with a message
naming the versions). One zip for both Pythons would break Blender 4.2.0: it installs every
wheel whose platform matches, and of two equal versions keeps the later file name, so the cp313
Pillow and onnxruntime landed in its Python 3.11. Blender's own numpy is used, never bundled.
Variants: `cpu` (onnxruntime) for every platform, `gpu` (onnxruntime-gpu, CUDA) for linux-x64
and windows-x64. Both variants share the extension id, so installing one replaces the other:
onnxruntime and onnxruntime-gpu, which both provide the package `onnxruntime`, never land
together in Blender's shared site-packages.

Zips are assembled and validated by Blender's own extension tool (blender_ext.py from the bpy
package). Wheels are downloaded once with pip into build/wheels (or taken from --wheels DIR).

    python scripts/build_extension.py                       # all platforms, variants, Pythons
    python scripts/build_extension.py --platforms linux-x64 --variants cpu --pythons 3.11
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Python -> the Blender versions that embed it, [min, max) as the manifest states them, and the
# zip's name for them.
PYTHONS = {"3.11": ("4.2.0", "5.1.0", "blender4.2-5.0"), "3.13": ("5.1.0", None, "blender5.1-up")}
# Pinned wheel versions (tested together; onnxruntime >= 1.20 has cp313 wheels).
PINS = {"onnxruntime": "1.31.1", "onnxruntime-gpu": "1.31.1", "pillow": "13.0.0",
        "protobuf": "7.36.2", "flatbuffers": "25.12.19", "packaging": "26.3"}
PURE = ("flatbuffers", "packaging")
PLATFORM_TAGS = {
    "linux-x64": ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
                  "manylinux2014_x86_64"],
    "windows-x64": ["win_amd64"],
    "macos-arm64": ["macosx_14_0_arm64", "macosx_13_0_arm64", "macosx_11_0_arm64",
                    "macosx_13_0_universal2", "macosx_11_0_universal2", "macosx_10_15_universal2"],
}
GPU_PLATFORMS = ("linux-x64", "windows-x64")


class BuildError(Exception):
    pass


def blender_ext() -> Path:
    import bpy  # noqa: F401  (dev extra) - only to find its bundled extension tool

    import importlib.util
    spec = importlib.util.find_spec("bpy")
    base = Path(spec.origin).parent
    found = sorted(base.glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    if not found:
        raise BuildError(f"Blender's blender_ext.py not found under {base}; install the dev extra")
    return found[-1]


def download(packages: list[str], platform: str, python: str, dest: Path) -> None:
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:", "--no-deps",
           "--dest", str(dest), "--python-version", python, "--implementation", "cp"]
    for tag in PLATFORM_TAGS[platform]:
        cmd += ["--platform", tag]
    cmd += [f"{p}=={PINS[p]}" for p in packages]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        raise BuildError(f"pip could not download {packages} for {platform}, Python {python}:\n"
                         f"{r.stderr.strip()[-800:]}")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def wheels_for(platform: str, variant: str, python: str, cache: Path) -> list[Path]:
    """The wheels of one zip, downloaded into cache/<platform>/ when missing."""
    runtime = "onnxruntime-gpu" if variant == "gpu" else "onnxruntime"
    binary = [runtime, "pillow", "protobuf"]
    folder = cache / platform
    folder.mkdir(parents=True, exist_ok=True)
    chosen = []
    tag = "cp" + python.replace(".", "")
    for package in binary + list(PURE):
        prefix = f"{_norm(package)}-{PINS[package]}-"
        def matches(path: Path) -> bool:
            name = path.name.lower()
            if not name.startswith(prefix):
                return False
            if package in PURE:
                return True
            parts = name[:-4].split("-")
            return parts[-3] == tag or (parts[-2] == "abi3" and int(parts[-3][2:]) <= int(tag[2:]))
        hits = [p for p in folder.glob("*.whl") if matches(p)]
        if not hits:
            download([package], platform, python, folder)
            hits = [p for p in folder.glob("*.whl") if matches(p)]
        if not hits:
            raise BuildError(f"no {package} {PINS[package]} wheel for {platform}, Python {python}")
        chosen.append(sorted(hits)[-1])
    return sorted(set(chosen))


def stage(platform: str, variant: str, python: str, models: Path, wheels: list[Path],
          dest: Path, blender_min: str | None = None) -> Path:
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for src in (ROOT / "addon").glob("*.py"):
        shutil.copy2(src, dest / src.name)
    shutil.copytree(ROOT / "nst_core", dest / "nst_core",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (dest / "models").mkdir()
    manifest_json = models / "manifest.json"
    if not manifest_json.is_file():
        raise BuildError(f"no models in {models}; run `make models` first")
    shutil.copy2(manifest_json, dest / "models")
    for onnx in models.glob("*.onnx"):
        shutil.copy2(onnx, dest / "models" / onnx.name)
    if (models / "stylebank").is_dir():          # built-in StyleBank styles (the manifest's "banks")
        shutil.copytree(models / "stylebank", dest / "models" / "stylebank")
    (dest / "wheels").mkdir()
    for wheel in wheels:
        shutil.copy2(wheel, dest / "wheels" / wheel.name)
    text = (ROOT / "blender_manifest.toml").read_text()
    text = re.sub(r'(?m)^platforms = .*$', f'platforms = ["{platform}"]', text)
    listing = "".join(f'\n  "./wheels/{w.name}",' for w in wheels)
    text = re.sub(r'(?m)^wheels = .*$', f"wheels = [{listing}\n]", text)
    low, high, _ = PYTHONS[python]
    if blender_min:                 # a distribution's Blender on its system Python (see --blender-min)
        low, high = blender_min, None
    text = re.sub(r'(?m)^blender_version_min = .*$', f'blender_version_min = "{low}"'
                  + (f'\nblender_version_max = "{high}"' if high else ""), text)
    if variant == "gpu":
        text = re.sub(r'(?m)^name = "(.*)"$', r'name = "\1 (CUDA)"', text)
    (dest / "blender_manifest.toml").write_text(text)
    return dest


def build(platform: str, variant: str, python: str, models: Path, cache: Path, out: Path,
          blender_min: str | None = None) -> Path:
    if python not in PYTHONS:
        raise BuildError(f"no Blender embeds Python {python}; expected {', '.join(PYTHONS)}")
    manifest = tomllib.loads((ROOT / "blender_manifest.toml").read_text())
    wheels = wheels_for(platform, variant, python, cache)
    name = f"{platform}-{variant}-" + (f"blender{blender_min}-python{python}" if blender_min
                                         else PYTHONS[python][2])
    staged = stage(platform, variant, python, models, wheels, ROOT / "build" / "extension" / name,
                   blender_min)
    tmp_out = staged.parent / f"{name}-out"
    shutil.rmtree(tmp_out, ignore_errors=True)
    tmp_out.mkdir()
    tool = blender_ext()
    r = subprocess.run([sys.executable, str(tool), "build", "--source-dir", str(staged),
                        "--output-dir", str(tmp_out)], capture_output=True, text=True)
    if r.returncode:
        raise BuildError(f"Blender's extension build failed:\n{r.stdout[-1500:]}{r.stderr[-1500:]}")
    built = next(tmp_out.glob("*.zip"))
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{manifest['id']}-{manifest['version']}-{name}.zip"
    shutil.move(str(built), target)
    shutil.rmtree(tmp_out, ignore_errors=True)
    return target


def validate(zip_path: Path) -> str:
    """Blender's own validation of a built zip; returns its output, raises BuildError on failure."""
    r = subprocess.run([sys.executable, str(blender_ext()), "validate", str(zip_path)],
                       capture_output=True, text=True)
    if r.returncode:
        raise BuildError(f"{zip_path.name} fails Blender's validation:\n{r.stdout}{r.stderr}")
    return r.stdout


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--platforms", default=",".join(PLATFORM_TAGS))
    parser.add_argument("--variants", default="cpu,gpu")
    parser.add_argument("--pythons", default=",".join(PYTHONS),
                        help="the Pythons of the target Blender versions (3.11: 4.2-5.0, 3.13: 5.1+)")
    parser.add_argument("--models", type=Path, default=ROOT / "build" / "models")
    parser.add_argument("--wheels", type=Path, default=ROOT / "build" / "wheels",
                        help="wheel cache: per-platform folders, filled by pip when missing")
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    parser.add_argument("--blender-min", default=None,
                        help="for a Linux distribution's Blender, which runs on the system Python "
                             "(Debian 13's Blender 4.3 on Python 3.13): this minimum Blender version, "
                             "no maximum, instead of the range the official builds of that Python have")
    args = parser.parse_args(argv)
    try:
        for platform in args.platforms.split(","):
            if platform not in PLATFORM_TAGS:
                raise BuildError(f"unknown platform {platform}; expected {', '.join(PLATFORM_TAGS)}")
            for variant in args.variants.split(","):
                if variant == "gpu" and platform not in GPU_PLATFORMS:
                    continue            # no CUDA on macOS
                for python in args.pythons.split(","):
                    path = build(platform, variant, python, args.models, args.wheels, args.out,
                                 args.blender_min)
                    validate(path)
                    print(f"{path} ({path.stat().st_size / 1e6:.1f} MB)")
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
