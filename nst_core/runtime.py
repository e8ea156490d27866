"""onnxruntime sessions: device choice, one cached session per (model, providers, threads)."""

from __future__ import annotations

import ctypes
import os
import sys
from dataclasses import dataclass

import numpy as np

from .errors import DeviceError, ModelError
from .models import ModelStore

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
DEVICES = ("auto", "cpu", "cuda")
# CUDA provider options of every session: no TF32, heuristic algorithm search, arenas that grow
# by what is asked (measured on an H100: docs/benchmarks.md, GPU).
CUDA_OPTIONS = {"use_tf32": "0", "cudnn_conv_algo_search": "HEURISTIC",
                "arena_extend_strategy": "kSameAsRequested"}
# CPU sessions share one memory arena, given back to the OS after each call; its first region
# is ARENA_FIRST_REGION bytes so small tensors stop splitting the region a network just freed
# (measurements: docs/memory.md). NST_SHARED_ARENA=0 turns it off.
ARENA_FIRST_REGION = 64 << 20
ENV_SHARED_ARENA = "NST_SHARED_ARENA"
_SHRINK = "memory.enable_memory_arena_shrinkage"
_shared_arena: bool | None = None       # registered once per process, on the first CPU session


def _shared_cpu_arena(ort) -> bool:
    """Whether CPU sessions use the process's shared arena (registering it on first use)."""
    global _shared_arena
    if _shared_arena is None:
        _shared_arena = os.environ.get(ENV_SHARED_ARENA, "1") != "0"
        if _shared_arena:
            try:
                info = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0,
                                         ort.OrtMemType.DEFAULT)
                # max_mem (0: no limit), extend strategy (0: next power of two), first region,
                # max_dead_bytes_per_chunk (-1: default)
                config = ort.OrtArenaCfg(0, 0, ARENA_FIRST_REGION, -1)
                ort.create_and_register_allocator(info, config)
            except Exception:   # noqa: BLE001 - an older onnxruntime, or one already registered
                _shared_arena = False
    return _shared_arena


def available_providers() -> list[str]:
    import onnxruntime as ort

    return list(ort.get_available_providers())


@dataclass(frozen=True)
class Device:
    """Where models run: ``providers`` in priority order, ``name`` of the one that runs first."""

    providers: tuple[str, ...]
    reason: str = ""

    @property
    def name(self) -> str:
        return self.providers[0]


class Session:
    """A loaded model; input and output names are read from the session, never hard-coded."""

    def __init__(self, session, name: str):
        self._session = session
        self.name = name
        self.input_name = session.get_inputs()[0].name
        self.output_names = [o.name for o in session.get_outputs()]
        self.provider = session.get_providers()[0]
        self.device_type = "cuda" if self.provider == CUDA else "cpu"

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        return self._session.run(self.output_names, {self.input_name: np.ascontiguousarray(x, np.float32)})

    def run_feeds(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Run a model with several named inputs (e.g. features and a bank's weights)."""
        return self._session.run(self.output_names, {k: np.ascontiguousarray(v, np.float32)
                                                     for k, v in feeds.items()})

    def _bind(self, feeds: dict):
        binding = self._session.io_binding()
        for name, value in feeds.items():
            if isinstance(value, np.ndarray):
                binding.bind_cpu_input(name, np.ascontiguousarray(value))
            else:
                binding.bind_ortvalue_input(name, value)
        return binding

    def run_bound(self, feeds: dict, to_host: tuple[str, ...] = ()) -> dict:
        """Run with IO binding: a feed is a numpy array (copied to the device) or an OrtValue
        from an earlier run (used where it lies); outputs stay on the session's device as
        OrtValues, except those named in ``to_host``, which come back as numpy arrays."""
        binding = self._bind(feeds)
        for name in self.output_names:
            binding.bind_output(name, "cpu" if name in to_host else self.device_type)
        self._session.run_with_iobinding(binding)
        return {name: value.numpy() if name in to_host else value
                for name, value in zip(self.output_names, binding.get_outputs())}

    def run_into(self, feeds: dict, output: np.ndarray) -> np.ndarray:
        """Run with IO binding, writing the one output straight into ``output`` (a C-contiguous
        numpy array of its shape). On CUDA the array is page-locked for the copy: from pageable
        memory a 4096² float32 RGB result took 135 ms to come back, from page-locked 4 ms."""
        binding = self._bind(feeds)
        binding.bind_output(self.output_names[0], "cpu", 0, np.float32, list(output.shape),
                            output.ctypes.data)
        with _page_locked(output if self.device_type == "cuda" else None):
            self._session.run_with_iobinding(binding)
        return output

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.run(x)[0]


class _page_locked:
    """Page-locks a host array with CUDA's cudaHostRegister for the duration (no-op without CUDA's
    runtime library or for None); the copy works either way, only faster when locked."""

    _cudart = None

    def __init__(self, array: np.ndarray | None):
        self.array, self.locked = array, False

    @classmethod
    def _lib(cls):
        if cls._cudart is None:
            cls._cudart = False
            for soname in ("libcudart.so.13", "libcudart.so.12", "cudart64_13.dll", "cudart64_12.dll"):
                try:
                    cls._cudart = ctypes.CDLL(soname)
                    break
                except OSError:
                    continue
        return cls._cudart

    def __enter__(self):
        lib = self._lib() if self.array is not None and self.array.nbytes >= 1 << 20 else None
        if lib:
            self.locked = lib.cudaHostRegister(ctypes.c_void_p(self.array.ctypes.data),
                                               ctypes.c_size_t(self.array.nbytes), 0) == 0
        return self

    def __exit__(self, *exc):
        if self.locked:
            self._lib().cudaHostUnregister(ctypes.c_void_p(self.array.ctypes.data))


class Runtime:
    """Models of one folder on one device; sessions are created on first use and cached."""

    def __init__(self, models_dir=None, device: str = "auto", threads: int | None = None):
        if device not in DEVICES:
            raise DeviceError(f"unknown device '{device}'; expected one of {', '.join(DEVICES)}")
        self.store = ModelStore(models_dir)
        self.requested = device
        self.threads = threads
        self._device: Device | None = None
        self._sessions: dict[tuple, Session] = {}

    @property
    def device(self) -> Device:
        if self._device is None:
            self._device = self._resolve()
        return self._device

    def _resolve(self) -> Device:
        if self.requested == "cpu":
            return Device((CPU,))
        if CUDA not in available_providers():
            reason = ("onnxruntime offers no CUDA provider (CPU build installed; install "
                      "onnxruntime-gpu for CUDA)")
            if self.requested == "cuda":
                raise DeviceError(f"device 'cuda' requested but {reason}")
            return Device((CPU,), reason)
        # CUDA is offered: it counts only if a session really starts on it. CUDA and cuDNN from
        # NVIDIA's pip packages (beside torch, say) are found only once preloaded.
        import onnxruntime as ort
        if hasattr(ort, "preload_dlls"):
            try:
                ort.preload_dlls()
            except Exception:   # noqa: BLE001 - system-wide CUDA may still work without them
                pass
        probe = self.store.names()[0] if self.store.names() else None
        try:
            session = self._create(probe, (CUDA, CPU)) if probe else None
        except Exception as exc:  # onnxruntime raises its own, unexported exception types
            session, reason = None, f"a CUDA session failed to start ({str(exc).splitlines()[0]})"
        else:
            reason = "" if session is not None and session.provider == CUDA else \
                "a CUDA session fell back to the CPU (CUDA or cuDNN libraries missing?)"
        if not reason:
            return Device((CUDA, CPU))
        if self.requested == "cuda":
            raise DeviceError(f"device 'cuda' requested but {reason}")
        return Device((CPU,), reason)

    def _create(self, name: str, providers: tuple[str, ...]) -> Session:
        import onnxruntime as ort

        if CUDA in providers:
            providers = tuple((p, dict(CUDA_OPTIONS)) if p == CUDA else p for p in providers)

        info = self.store.info(name)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if self.threads:
            options.intra_op_num_threads = int(self.threads)
        options.log_severity_level = 3
        # No spinning worker threads: they took a core from the numpy work between networks
        # and from Blender (docs/benchmarks.md).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # No arena of its own: ten cached sessions would each keep their largest run's memory.
        # CPU sessions take the shared one instead (see ENV_SHARED_ARENA).
        options.enable_cpu_mem_arena = False
        if providers == (CPU,) and _shared_cpu_arena(ort):
            options.add_session_config_entry("session.use_env_allocators", "1")
        try:
            session = ort.InferenceSession(os.fspath(info.path), sess_options=options,
                                           providers=list(providers))
        except Exception as exc:  # InvalidProtobuf, Fail, ... are not importable types
            raise ModelError(f"onnxruntime cannot load {info.path}: {str(exc).splitlines()[0]}") from exc
        return Session(session, name)

    def session(self, name: str) -> Session:
        key = (name, self.device.providers, self.threads)
        if key not in self._sessions:
            self._sessions[key] = self._create(name, self.device.providers)
        return self._sessions[key]

    def clear(self) -> None:
        """Drop every session (frees GPU memory)."""
        self.release_memory()
        self._sessions.clear()

    def release_memory(self, trim_heap: bool = False) -> None:
        """Hand the shared CPU arena's free memory back to the OS (the end of every call), and
        with ``trim_heap`` glibc's free heap too (before each pass over many tiles: glibc keeps
        freed megabyte arrays on its heap, and WCT's resident size would creep up stage after
        stage; docs/memory.md). onnxruntime shrinks an arena only after a run that asks for it,
        so this runs the smallest graph there is on 1×1×1×1 zeros."""
        self._shrink_arena()
        if trim_heap and _LIBC is not None:
            _LIBC.malloc_trim(0)

    def _shrink_arena(self) -> None:
        if not _shared_arena or self._device is None or self._device.providers != (CPU,):
            return
        try:
            if not self.store.has("mix"):      # an export older than the graph
                return
        except ModelError:                      # the models folder went away meanwhile
            return
        import onnxruntime as ort

        options = ort.RunOptions()
        options.add_run_config_entry(_SHRINK, "cpu:0")
        zero = np.zeros((1, 1, 1, 1), np.float32)
        self.session("mix")._session.run(None, {"a": zero, "b": zero, "t": np.zeros((), np.float32)},
                                         options)


def _load_libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:         # musl or another libc: nothing to trim
        return None


_LIBC = _load_libc()
_RUNTIMES: dict[tuple, Runtime] = {}


def get_runtime(models_dir=None, device: str = "auto", threads: int | None = None) -> Runtime:
    """The shared Runtime for (models folder, device, threads), created on first use."""
    store_dir = ModelStore(models_dir).dir
    key = (os.fspath(store_dir), device, threads)
    if key not in _RUNTIMES:
        _RUNTIMES[key] = Runtime(store_dir, device, threads)
    return _RUNTIMES[key]


def clear_runtimes() -> None:
    """Forget every cached session and model check and hand back the memory they held (e.g.
    'Free GPU memory', or after re-export)."""
    for rt in _RUNTIMES.values():
        rt.clear()
    _RUNTIMES.clear()
