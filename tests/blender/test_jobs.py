"""addon/jobs.py: a job's worker thread, and the threads it starts (onnxruntime's), run below
Blender's own; the thread that started them keeps its priority. (The modal path itself, its
progress and how live the window stays, is tested in a real window: tests/gui.)"""

from __future__ import annotations

import os
import sys
import threading

import pytest

from harness import addon_module, fact, scenario

bpy = pytest.importorskip("bpy")


@scenario(1)
def worker_priority():
    jobs = addon_module("jobs")
    seen = {}

    def nice() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    def worker():
        jobs._below_the_window()
        seen["worker"] = nice()
        child = threading.Thread(target=lambda: seen.setdefault("started_by_worker", nice()))
        child.start()
        child.join()

    before = nice()
    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    return {**seen, "main_before": before, "main_after": nice(), "wanted": jobs.WORKER_NICE}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="nice values are Linux's")
def test_a_jobs_threads_run_below_blenders(facts):
    f = fact(facts, "worker_priority")
    assert f["main_after"] == f["main_before"], f
    assert f["worker"] == f["started_by_worker"] == f["main_before"] + f["wanted"], f


@scenario(2)
def warm_up_without_a_library():
    jobs = addon_module("jobs")
    saved = sys.modules.get("PIL")
    sys.modules["PIL"] = None           # what a broken install looks like: the import fails
    try:
        broken = jobs.warm_up(background=False)
    finally:
        if saved is None:
            del sys.modules["PIL"]
        else:
            sys.modules["PIL"] = saved
    return {"broken": broken, "whole": jobs.warm_up(background=False)}


def test_a_library_that_does_not_load_does_not_stop_registration(facts):
    f = fact(facts, "warm_up_without_a_library")
    assert "PIL" in f["broken"] and "reinstalled" in f["broken"], f
    assert f["whole"] is None, f
