"""``python -m signkit.models``: each model config's parameter counts, per component (built on the meta device)."""

from __future__ import annotations

import torch

from . import FAMILIES, create_model, parameter_counts


def main() -> None:
    for family in FAMILIES.values():
        print(f"{family.name}: {family.summary}; tasks {family.task_names()}")
        task = None if None in family.tasks else family.tasks[0]
        classes = 100 if task in ("islr", "cslr") else None
        for name in sorted(family.configs):
            with torch.device("meta"):
                counts = parameter_counts(create_model(name, task, classes))
            parts = ", ".join(f"{k} {v:,}" for k, v in counts.items() if k != "total")
            head = f" ({task}, {classes} classes)" if classes else ""
            print(f"  {name}{head}: {counts['total']:,} parameters ({parts})")


if __name__ == "__main__":
    main()
