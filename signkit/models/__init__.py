"""Sigma: part-wise ST-GCN sign encoder, SignEF fusion, HAL alignment, sign-grounded T5 text side, task heads.

Public API (the model contract in DESIGN.md): `SigmaConfig`, `list_configs`, `get_config`, `create_model`,
`SigmaModel`, `SigmaOutput`.
"""

from .config import SigmaConfig, SignEncoderConfig, get_config, list_configs
from .sigma import TASKS, SigmaModel, SigmaOutput, create_model, parameter_counts

__all__ = [
    "TASKS",
    "SigmaConfig",
    "SigmaModel",
    "SigmaOutput",
    "SignEncoderConfig",
    "create_model",
    "get_config",
    "list_configs",
    "parameter_counts",
]
