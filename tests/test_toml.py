"""TOML: training configs read on every supported Python (tomli on 3.10), registries written with tomli-w."""

from __future__ import annotations

import sys

import pytest

import signkit._toml as toml
from signkit.errors import ConfigError
from signkit.train import resolve_config
from signkit.zoo.registry import dumps_registry

READER = toml.toml_reader()  # tomllib, or tomli on Python 3.10


@pytest.mark.parametrize("has_tomllib", [True, False])
def test_a_toml_training_config_is_read_on_python_3_10_too(tmp_path, monkeypatch, has_tomllib):
    """It was refused on 3.10 ("TOML configs need Python >= 3.11") although tomli is a dependency there."""
    if has_tomllib and not toml.HAS_TOMLLIB:
        pytest.skip("this Python has no tomllib")
    monkeypatch.setattr(toml, "HAS_TOMLLIB", has_tomllib)
    monkeypatch.setitem(sys.modules, "tomli", READER)  # tomllib is tomli, vendored: the same parser
    if not has_tomllib:
        monkeypatch.setitem(sys.modules, "tomllib", None)  # importing it now fails, as on 3.10
    (tmp_path / "c.toml").write_text('task = "cslr"\nlr = 0.001\nmax_steps = 5\nbetas = [0.9, 0.95]\n')
    cfg = resolve_config(tmp_path / "c.toml")
    assert (cfg.task, cfg.lr, cfg.max_steps, cfg.betas) == ("cslr", 0.001, 5, (0.9, 0.95))
    (tmp_path / "bad.toml").write_text("lr = = 1\n")
    with pytest.raises(ConfigError, match="is not valid toml"):
        resolve_config(tmp_path / "bad.toml")


def test_registry_toml_round_trips_without_the_none_fields():
    weights = {"name": "model.safetensors", "url": "w.safetensors", "sha256": "0" * 64}
    text = 'say "hi" \\ 日本'
    model = {"name": "lab.x", "arch": "sigma-tiny", "description": text, "card": None, "labels": ["a", "b"]}
    model.update(files=[{**weights, "size": None}], metrics=[])
    tokenizer = {"name": "byt5", "files": [{"name": "t.json", "url": "t.json", "sha256": "1" * 64}]}
    data = READER.loads(dumps_registry({"schema": 1, "model": [model], "tokenizer": [tokenizer]}))
    written = {"name": "lab.x", "arch": "sigma-tiny", "description": text, "labels": ["a", "b"], "files": [weights]}
    assert data == {"schema": 1, "model": [written], "tokenizer": [tokenizer]}
