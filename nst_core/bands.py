"""Per-pixel work on bands of rows, on a few threads at once (numpy releases the GIL).

The steps of an animation frame (warp preparation, validity, the render filter, the result
blend, the canvas) are short numpy calls over whole frames; taken band by band, each band's
arrays stay in a core's cache between the calls, and the bands are shared out among the threads.
"""

from __future__ import annotations

import os
import queue
from concurrent.futures import ThreadPoolExecutor

from .tiling import round_up

BAND_ROWS = 64          # the fewest rows of a band
BAND_PIXELS = 1 << 16   # the most pixels of a band: 0.75 MB of RGB float32, with the temporaries
                        # of a filter a core's cache (1 << 17: 7 % more CPU time at 720p)
THREADS = min(os.cpu_count() or 1, 8)   # bands worked on at once

_POOL: ThreadPoolExecutor | None = None     # made on first use; its threads start from the
                                            # caller's, so a job's worker gives them its priority


def in_bands(fn, shape: tuple[int, ...], align: int = 1, wanted=None) -> None:
    """fn(r0, r1) for bands of rows that cover the h rows of an h×w ``shape`` (starting at
    multiples of ``align``), taken by THREADS threads at once. Bands hold at most about
    BAND_PIXELS pixels and at least BAND_ROWS rows; they are taken from a queue, so a thread
    that finishes early takes the next. ``wanted`` (h bool, or None: all): the rows that
    matter; a band without any is left out."""
    global _POOL
    h, w = shape[0], shape[1]
    count = max(1, min(max(THREADS, -(-h * w // BAND_PIXELS)), h // BAND_ROWS))
    step = round_up(-(-h // count), align)
    bands = queue.SimpleQueue()
    for r in range(0, h, step):
        if wanted is None or wanted[r:r + step].any():
            bands.put((r, min(r + step, h)))

    def take():
        while True:
            try:
                band = bands.get_nowait()
            except queue.Empty:
                return
            fn(*band)
    helpers = min(THREADS, -(-h // step)) - 1
    if helpers <= 0:
        take()
        return
    if _POOL is None:
        _POOL = ThreadPoolExecutor(THREADS - 1, thread_name_prefix="nst-coherence")
    futures = [_POOL.submit(take) for _ in range(helpers)]
    take()
    for f in futures:
        f.result()


def around(r0: int, r1: int, h: int, reach: int) -> tuple[slice, slice]:
    """The rows r0:r1 of h with ``reach`` rows more on either side (within the h rows), and
    where r0:r1 lie in them: for a filter that reaches ``reach`` rows, whose result on a band
    is then that over the whole frame."""
    a, b = max(r0 - reach, 0), min(r1 + reach, h)
    return slice(a, b), slice(r0 - a, r1 - a)
