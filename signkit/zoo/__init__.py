"""The model zoo: a registry of published weights, verified cached downloads, converters, load-for-finetune.

Example::

    import signkit
    model = signkit.zoo.load("sigma-tiny", task="islr", num_classes=100)
    signkit.zoo.download("unisign.wlasl2000-islr").weights   # path of the verified cached file

Registry and download code import no torch; ``load``/``export``/``convert_unisign`` import it when called.
"""

from __future__ import annotations

from importlib import import_module

from .cache import is_offline, model_dir, signkit_home
from .download import DownloadOptions, DownloadResult, ZooPinWarning, download, is_cached, remove, verify
from .registry import FileSpec, Metric, ZooEntry, add_registry, list_models, load_registry, resolve_name

_LAZY = {
    "load": "load",
    "load_state_dict_strict": "load",
    "LoadReport": "load",
    "read_checkpoint": "load",
    "export": "export",
    "ExportResult": "export",
    "convert_unisign": "convert_unisign",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'signkit.zoo' has no attribute {name!r}")


__all__ = [
    "DownloadOptions",
    "DownloadResult",
    "ExportResult",
    "FileSpec",
    "LoadReport",
    "Metric",
    "ZooEntry",
    "ZooPinWarning",
    "add_registry",
    "convert_unisign",
    "download",
    "export",
    "is_cached",
    "is_offline",
    "list_models",
    "load",
    "load_registry",
    "load_state_dict_strict",
    "model_dir",
    "read_checkpoint",
    "remove",
    "resolve_name",
    "signkit_home",
    "verify",
]
