"""The zoo cache at load time: a changed file is caught, the shipped model needs no cache, a mirror's entry is kept,
and hf:// honours --retries (issue 14, rough edges)."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner
from test_zoo_download import FAST, PAYLOAD, cached, entry, server, use_registry, zoo_env  # noqa: F401 (fixtures)

from signkit.cli.main import cli
from signkit.errors import ZooError
from signkit.zoo import download
from signkit.zoo.cache import marker_path
from signkit.zoo.downloading import DownloadOptions


def test_a_byte_flipped_in_a_cached_file_is_caught_at_the_next_load(monkeypatch, tmp_path):
    (tmp_path / "w.safetensors").write_bytes(PAYLOAD)
    use_registry(monkeypatch, tmp_path, entry("lab.flip", "w.safetensors"))
    path = download("lab.flip", FAST).weights
    assert marker_path(path).is_file()
    with open(path, "r+b") as f:  # same size, one byte different: the size check alone let it load
        f.seek(10)
        byte = f.read(1)
        f.seek(10)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.warns(UserWarning, match="no longer matches its sha256"):
        again = download("lab.flip", FAST).weights
    assert again.read_bytes() == PAYLOAD  # deleted and fetched again from the source


def test_an_unchanged_cached_file_is_not_rehashed(monkeypatch, tmp_path):
    import signkit.zoo.cache as cache

    (tmp_path / "w.safetensors").write_bytes(PAYLOAD)
    use_registry(monkeypatch, tmp_path, entry("lab.same", "w.safetensors"))
    download("lab.same", FAST)
    hashed = []
    monkeypatch.setattr(cache, "sha256_file", lambda p, *a: hashed.append(p) or "x")
    download("lab.same", FAST)
    assert hashed == []


def test_the_shipped_sigma_tiny_loads_with_an_unwritable_signkit_home(monkeypatch, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    monkeypatch.setenv("SIGNKIT_HOME", str(blocker / "home"))
    from signkit import zoo

    result = zoo.download("sigma-tiny")
    assert "signkit/zoo/weights" in result.weights.as_posix() and not (blocker / "home").exists()
    assert zoo.load("sigma-tiny").config.name == "sigma-tiny"
    out = CliRunner().invoke(cli, ["zoo", "path", "sigma-tiny", "--json"])
    assert out.exit_code == 0 and json.loads(out.output)["path"] == str(result.weights)


def test_a_model_installed_from_an_http_mirror_stays_known_offline(server, monkeypatch, tmp_path):  # noqa: F811
    from signkit.zoo.registry import dumps_registry

    release = {"name": "lab.served", "arch": "sigma-tiny", "files": [dict(entry("x", "model.safetensors")["files"][0])]}
    server.files["/m/lab.served/entry.toml"] = dumps_registry({"schema": 1, "model": [release]}).encode()
    server.files["/m/lab.served/model.safetensors"] = PAYLOAD
    monkeypatch.setenv("SIGNKIT_ZOO_MIRROR", server.url + "/m")
    assert download("lab.served", FAST).weights.read_bytes() == PAYLOAD
    server.close()  # the mirror goes down, then offline mode
    monkeypatch.setenv("SIGNKIT_OFFLINE", "1")
    assert download("lab.served", FAST).weights == cached("lab.served")
    listed = json.loads(CliRunner().invoke(cli, ["zoo", "list", "--json"]).output)
    assert any(r["name"] == "lab.served" and r["cached"] is True for r in listed)


def test_hf_downloads_honour_retries(monkeypatch, tmp_path):
    import huggingface_hub
    from huggingface_hub import errors as hf_errors

    calls = []

    def flaky(repo_id, filename, *, revision, local_dir, endpoint):
        calls.append(filename)
        if len(calls) < 3:
            raise hf_errors.LocalEntryNotFoundError("connection error and no local copy")
        os.makedirs(local_dir, exist_ok=True)
        path = os.path.join(local_dir, filename)
        with open(path, "wb") as f:
            f.write(PAYLOAD)
        return path

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", flaky)
    use_registry(monkeypatch, tmp_path, entry("lab.hfr", "hf://owner/repo/w.pth"), entry("lab.hfx", "hf://o/r/x.pth"))
    assert download("lab.hfr", DownloadOptions(retries=2, backoff=0.01, progress=False)).weights.read_bytes() == PAYLOAD
    assert len(calls) == 3
    calls.clear()
    with pytest.raises(ZooError, match="after 2 attempts"):
        download("lab.hfx", DownloadOptions(retries=1, backoff=0.01, progress=False))
    assert len(calls) == 2


def test_zoo_path_names_the_file_a_partly_cached_model_lacks(monkeypatch, tmp_path):
    (tmp_path / "w.safetensors").write_bytes(PAYLOAD)
    two = entry("lab.two", "w.safetensors")
    two["files"].append({**two["files"][0], "name": "labels.json"})
    use_registry(monkeypatch, tmp_path, two)
    download("lab.two", FAST).weights.with_name("labels.json").unlink()
    out = CliRunner().invoke(cli, ["zoo", "path", "lab.two"])
    assert out.exit_code == 1 and "lab.two lacks labels.json in the cache" in out.output, out.output
