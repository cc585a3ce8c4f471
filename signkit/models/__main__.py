"""``python -m signkit.models``: each Sigma config's parameter counts, per component (built on the meta device)."""

from __future__ import annotations

import torch

from . import create_model, list_configs, parameter_counts


def main() -> None:
    for name in list_configs():
        with torch.device("meta"):
            counts = parameter_counts(create_model(name))
        parts = ", ".join(f"{k} {v:,}" for k, v in counts.items() if k != "total")
        print(f"{name}: {counts['total']:,} parameters ({parts})")


if __name__ == "__main__":
    main()
