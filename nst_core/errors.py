"""Errors raised by nst_core: one base class, each subclass also the matching built-in."""

from __future__ import annotations

FIX_MODELS = ("run `make models` in the nst source tree (or `python scripts/fetch_weights.py "
              "&& python scripts/export_onnx.py`), or point NST_MODELS_DIR at a models folder")


class NSTError(Exception):
    """Base class of every error nst_core raises on purpose."""


class ImageError(NSTError, ValueError):
    """An image, mask or array that cannot be used: unreadable, empty, wrong shape, NaN/inf."""


class StyleError(NSTError, ValueError):
    """Bad style arguments: unknown method or style, bad weights, mismatched masks."""


class ModelError(NSTError, FileNotFoundError):
    """A model is missing, corrupted or does not match the manifest."""


class DeviceError(NSTError, RuntimeError):
    """The requested device (e.g. CUDA) cannot run the models."""


class CancelledError(NSTError):
    """The caller cancelled the job; nothing partial is returned."""


class ViewTransformError(NSTError, ValueError):
    """A view transform that cannot be inverted: it did not give one display colour per colour."""
