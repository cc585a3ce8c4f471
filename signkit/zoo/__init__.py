"""The model zoo: a registry of published weights, verified cached downloads, converters, load-for-finetune.

Example::

    import signkit
    model = signkit.zoo.load("sigma-tiny", task="islr", num_classes=100)
    signkit.zoo.download("unisign.wlasl2000-islr").weights   # path of the verified cached file

Importing this package imports no torch; ``load``/``export``/``convert_unisign`` import it when called.
"""

from __future__ import annotations

# loading/exporting/convert_unisign import torch only inside their functions, so importing them here stays cheap.
from .cache import is_offline, model_dir, signkit_home
from .convert_unisign import ConvertedCheckpoint, convert_unisign
from .downloading import DownloadOptions, DownloadResult, ZooPinWarning, download, is_cached, remove, verify
from .exporting import ExportResult, export
from .loading import LoadReport, load, load_state_dict_strict, read_checkpoint
from .registry import FileSpec, Metric, ZooEntry, add_registry, list_models, load_registry, resolve_name

__all__ = [
    "ConvertedCheckpoint",
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
