"""colorize-cli: bring color back to black-and-white photographs.

The public API (imported lazily, so ``import colorize_cli`` stays light)::

    from colorize_cli import colorize_image, colorize_paths, open_backend

    backend = open_backend()                      # bundled model; ONNX Runtime on CPU, torch on a GPU
    color = colorize_image(PIL.Image.open("old.jpg"), backend=backend)
    summary = colorize_paths(["scans/"], "colored/", backend=backend)
"""

from __future__ import annotations

from colorize_cli._version import __version__

__all__ = ["__version__", "colorize_image", "colorize_array", "colorize_paths", "open_backend"]

_LAZY = {
    "colorize_image": "colorize_cli.api",
    "colorize_array": "colorize_cli.pipeline",
    "colorize_paths": "colorize_cli.api",
    "open_backend": "colorize_cli.backends",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'colorize_cli' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
