"""A real Blender window for the GUI tests: Debian 13 (trixie) in a chroot, with its `blender`
package (4.3, on the system Python 3.13), Xvfb and Mesa's software OpenGL, xdotool and
ImageMagick's `import`.

The chroot is made once with debootstrap and kept in ``NST_GUI_ROOT`` (default
``~/.cache/nst/gui-trixie``); a stamp file names the packages it holds, so a changed list makes
it again. ``run(root, work, command)`` runs a shell command inside it with ``work`` mounted at
/nst, in a private mount namespace (``unshare -m``), so nothing stays mounted when it ends.
Needs root, debootstrap (installed with apt-get when missing) and a Debian mirror: the first one in
this machine's apt sources.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

SUITE = "trixie"
PACKAGES = ("blender", "python3-numpy", "xvfb", "xdotool", "imagemagick", "libgl1-mesa-dri")
STAMP = "etc/nst-gui-packages"


class Unavailable(Exception):
    """This machine cannot make or enter the chroot; the message says why."""


def default_root() -> Path:
    return Path(os.environ.get("NST_GUI_ROOT", Path.home() / ".cache" / "nst" / f"gui-{SUITE}"))


def mirror() -> str:
    """The Debian mirror this machine's apt uses (deb.debian.org when none is found)."""
    for path in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        try:
            text = path.read_text()
        except OSError:
            continue
        for uri in re.findall(r"(?m)^(?:URIs:\s*|deb\s+(?:\[[^]]*\]\s+)?)(\S+)", text):
            if "security" not in uri and uri.rstrip("/").endswith("/debian"):
                return uri
    return "http://deb.debian.org/debian"


def _check(cmd: list[str], what: str, timeout: float) -> None:
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Unavailable(f"{what} failed: {exc}") from exc
    if r.returncode:
        raise Unavailable(f"{what} failed (exit {r.returncode}): {(r.stdout + r.stderr)[-1500:]}")


def ensure(root: Path | None = None) -> Path:
    """The chroot, made when missing or when its package list changed (a few minutes), and
    entered once to see that this machine allows it (a private mount namespace needs root)."""
    root = root or default_root()
    wanted = " ".join(PACKAGES)
    stamp = root / STAMP
    if stamp.is_file() and stamp.read_text().strip() == wanted:
        _check(_inside(root, None, "blender --version"), "entering the chroot", 120)
        return root
    if os.geteuid() != 0:
        raise Unavailable("making the Debian chroot for the GUI tests needs root")
    if shutil.which("debootstrap") is None:
        _check(["apt-get", "install", "-y", "-q", "debootstrap"], "apt-get install debootstrap", 600)
    tmp = root.with_name(root.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    _check(["debootstrap", "--variant=minbase", SUITE, str(tmp), mirror()], "debootstrap", 1800)
    shutil.copy2("/etc/resolv.conf", tmp / "etc" / "resolv.conf")
    install = ("apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "
               f"--no-install-recommends {wanted} && apt-get clean")
    _check(_inside(tmp, None, install), "apt-get install in the chroot", 1800)
    (tmp / STAMP).write_text(wanted + "\n")
    shutil.rmtree(root, ignore_errors=True)
    tmp.rename(root)
    return root


def _inside(root: Path, work: Path | None, command: str) -> list[str]:
    mounts = f"mount -t proc proc {root}/proc && mount --rbind /dev {root}/dev"
    if work is not None:
        (root / "nst").mkdir(exist_ok=True)
        mounts += f" && mount --bind {work} {root}/nst"
    inner = command.replace("'", "'\"'\"'")
    return ["unshare", "-m", "sh", "-c", f"{mounts} && exec chroot {root} sh -c '{inner}'"]


def run(root: Path, work: Path, command: str, timeout: float) -> subprocess.CompletedProcess:
    """``command`` (sh) inside the chroot, ``work`` at /nst."""
    return subprocess.run(_inside(root, work, command), capture_output=True, text=True,
                          timeout=timeout)


def window_blender(root: Path, work: Path, script: str, args: dict, display: int,
                   timeout: float) -> str:
    """Blender in a window (Xvfb ``:display``, 1600×1000, a temporary HOME at ``work``/home)
    running ``work``/``script`` with ``args`` (args.json), as ``blender --factory-startup
    --python SCRIPT -- args.json``; its exit status goes to ``work``/rc. Its output returned."""
    (work / "home").mkdir(exist_ok=True)
    (work / "args.json").write_text(json.dumps(args))
    command = (f"Xvfb :{display} -screen 0 1600x1000x24 -nolisten tcp > /nst/xvfb.log 2>&1 & "
               f"X=$!; sleep 2; HOME=/nst/home DISPLAY=:{display} timeout {int(timeout) - 60} "
               f"blender --factory-startup --python /nst/{script} -- /nst/args.json "
               "> /nst/blender.log 2>&1; echo $? > /nst/rc; kill $X")
    run(root, work, command, timeout=timeout)
    return (work / "blender.log").read_text(errors="replace")


def extension_zip(out: Path) -> Path:
    """The linux-x64 CPU zip for Debian's Blender (4.3 on the system Python 3.13), in ``out``."""
    import build_extension          # scripts/ is on the path (tests/conftest.py)
    root = Path(__file__).resolve().parent.parent.parent
    return build_extension.build("linux-x64", "cpu", "3.13", root / "build" / "models",
                                 root / "build" / "wheels", out, blender_min="4.2.0")


def ensure_or_skip(what: str) -> Path:
    """The chroot for a test, or the test skipped saying why ``what`` cannot run here."""
    import pytest
    try:
        return ensure()
    except Unavailable as exc:
        pytest.skip(f"no {what} here: {exc}")

