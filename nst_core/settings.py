"""``Settings``: every choice of one stylization as one frozen value.

The add-on builds it once from its panel (or an operator's properties), the command line from
its arguments, ``stylize()`` from its keywords; ``stylize_with``, ``Coherence`` and the device
path read it unchanged. A setting has one name from the panel to the engine. The scalar
settings are checked here, when the value is made; what depends on the content (masks of its
size, weights per style) is checked once more by the pipeline's ``Request``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from . import methods, tiling, wct
from .errors import StyleError

STYLE_SIZE = 512        # default long side of style images
MIN_WORK_SIZE = 64      # the smallest long side the networks may run at (``work_size``)


@dataclass(frozen=True, eq=False)
class Settings:
    """One stylization's choices. ``styles``, ``weights`` and ``masks`` hold arrays, so two
    values are equal (and hash) only as the same object.

    method: a name of ``METHODS`` (any case: the add-on's "WCT" is "wct").
    styles: style images (H×W×C arrays) or, for a method that ``takes_style_names``, names.
    weights: one per style (default equal), normalised over all styles.
    masks: one H×W mask in [0, 1] (or None) per style, the content's size.
    regions: StyleBank: one k-means region of the content per style.
    strength: 0 keeps the content, 1 is full style.
    preserve_color: keep the content's chroma. seamless: a tileable content stays tileable.
    work_size: the long side the networks run at (a fast preview); None: full size.
    style_size: styles are scaled to this long side (None: as they are).
    levels, decoder, transform: WCT's levels, another decoder, AdaIN's feature transform.
    memory_budget: bytes a call may use (larger images go in tiles); tile_size forces tiles.
    device, threads, models_dir: where the models run and come from.
    """

    method: str = "wct"
    styles: tuple = ()
    weights: tuple | None = None
    masks: tuple | None = None
    regions: bool = False
    strength: float = 1.0
    preserve_color: bool = False
    seamless: bool = False
    work_size: int | None = None
    style_size: int | None = STYLE_SIZE
    levels: tuple = wct.DEFAULT_LEVELS
    decoder: str | None = None
    transform: str | None = None
    memory_budget: int = tiling.MEMORY_BUDGET
    tile_size: int | None = None
    device: str = "auto"
    threads: int | None = None
    models_dir: str | Path | None = None

    def __post_init__(self):
        set_ = object.__setattr__.__get__(self)
        set_("method", self.method_object().name)
        one = not isinstance(self.styles, (list, tuple))     # an image, a name or a Bank
        set_("styles", (self.styles,) if one else tuple(self.styles))
        for name in ("weights", "masks", "levels"):
            if getattr(self, name) is not None:
                set_(name, tuple(getattr(self, name)))
        if isinstance(self.strength, bool) or not np.isfinite(self.strength) \
                or not 0.0 <= self.strength <= 1.0:
            raise StyleError(f"strength (alpha) must be between 0 and 1, got {self.strength}")
        set_("strength", float(self.strength))
        if self.work_size is not None:
            if isinstance(self.work_size, bool) or not isinstance(self.work_size, (int, np.integer)) \
                    or self.work_size < MIN_WORK_SIZE:
                raise StyleError(f"work_size must be a whole number of pixels, at least "
                                 f"{MIN_WORK_SIZE} (the long side the networks run at), or None "
                                 f"for full size; got {self.work_size!r}")
            set_("work_size", int(self.work_size))
        set_("memory_budget", int(self.memory_budget))

    def method_object(self):
        """The method these settings name (with ``transform``, AdaIN's chosen transform)."""
        return methods.get(self.method, self.transform)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The settings' names: what a panel property must be called to fill one."""
        return tuple(f.name for f in fields(cls))
