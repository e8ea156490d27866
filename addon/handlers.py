"""Blender's app handlers (``bpy.app.handlers``) the add-on's modules add as they register and
take out as they unregister: each module lists (handler list, function) pairs."""

from __future__ import annotations


def attach(pairs) -> None:
    """Add each function to its handler list, once (registering twice adds nothing)."""
    for handlers, fn in pairs:
        if fn not in handlers:
            handlers.append(fn)


def detach(pairs) -> None:
    for handlers, fn in pairs:
        if fn in handlers:
            handlers.remove(fn)
