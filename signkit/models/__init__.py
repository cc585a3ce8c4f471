"""Models: the family table (`families`), Sigma (part-wise ST-GCN sign encoder, SignEF fusion, HAL alignment,
sign-grounded T5 text side, task heads) and a plain ST-GCN classifier.

Public API (the model contract in docs/design.md): `create_model`, `get_config`, `list_configs` (every family),
`FAMILIES`, `config_to_dict` / `config_from_dict`, `SigmaConfig`, `SigmaModel`, `SigmaOutput`,
`STGCNClassifierConfig`, `STGCNClassifier`.
"""

from .config import SigmaConfig, SignEncoderConfig
from .families import (
    FAMILIES,
    ModelFamily,
    check_task,
    config_from_dict,
    config_to_dict,
    config_with_overrides,
    create_model,
    family_of,
    get_config,
    list_configs,
)
from .sigma import TASKS, SigmaModel, SigmaOutput, parameter_counts
from .stgcn_classifier import STGCNClassifier, STGCNClassifierConfig

__all__ = [
    "FAMILIES",
    "TASKS",
    "ModelFamily",
    "STGCNClassifier",
    "STGCNClassifierConfig",
    "SigmaConfig",
    "SigmaModel",
    "SigmaOutput",
    "SignEncoderConfig",
    "check_task",
    "config_from_dict",
    "config_to_dict",
    "config_with_overrides",
    "create_model",
    "family_of",
    "get_config",
    "list_configs",
    "parameter_counts",
]
