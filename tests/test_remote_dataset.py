"""A packed dataset read from a URL (fsspec over https-style HTTP), against a static file server on 127.0.0.1."""

from __future__ import annotations

import http.server
import json
import re
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from test_pack import write_labels_csv, write_poses

import signkit.datasets as sd
from signkit.cli.main import cli
from signkit.errors import DatasetError

pytest.importorskip("aiohttp")


class FileServer:
    """Serves a folder with HEAD, GET and single Range requests (what object stores and CDNs do); records the paths
    it was asked for and the bytes it sent for each. ``cut`` makes a path's body end early (a connection that drops)."""

    def __init__(self, root: Path):
        self.root, self.requests, self.sent, self.cut = root, [], {}, {}
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _body(self) -> bytes | None:
                path = outer.root / self.path.lstrip("/")
                return path.read_bytes() if path.is_file() else None

            def do_HEAD(self):  # noqa: N802
                body = self._body()
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()

            def do_GET(self):  # noqa: N802
                outer.requests.append(self.path)
                body = self._body()
                if body is None:
                    self.send_error(404)
                    return
                size = len(body)
                m = re.match(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
                start, end = (int(m[1]), int(m[2]) + 1 if m[2] else size) if m else (0, size)
                end = min(end, size)
                self.send_response(206 if m else 200)
                if m:
                    self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
                self.send_header("Content-Length", str(end - start))
                self.end_headers()
                chunk = body[start:end]
                outer.sent[self.path] = outer.sent.get(self.path, 0) + len(chunk)
                if self.path in outer.cut:
                    chunk = chunk[: outer.cut[self.path]]
                    self.wfile.write(chunk)
                    self.close_connection = True
                    return
                self.wfile.write(chunk)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("remote")
    keys = write_poses(tmp / "poses", 13)
    labels = write_labels_csv(tmp / "labels.csv", keys, splits=("train", "train", "dev"))
    sd.pack(tmp / "poses", tmp / "site" / "ds", labels=labels, samples_per_shard=3)
    server = FileServer(tmp / "site")
    yield server, tmp / "site" / "ds", f"{server.url}/ds"
    server.close()


def _by_key(samples) -> dict[str, tuple[np.ndarray, np.ndarray, int]]:
    return {s["key"]: (np.array(s["pose"]), np.array(s["conf"]), s["label"]) for s in samples}


def test_a_url_gives_the_same_samples_and_batches_as_the_folder(served):
    _, local, url = served
    for split in ("train", "dev"):
        here, there = _by_key(sd.open(local, split, shuffle=False)), _by_key(sd.open(url, split, shuffle=False))
        assert sorted(here) == sorted(there) and len(here) > 0
        for key, (pose, conf, label) in here.items():
            np.testing.assert_array_equal(there[key][0], pose)
            np.testing.assert_array_equal(there[key][1], conf)
            assert there[key][2] == label
    remote = sd.open(url, "train", shuffle=False)
    assert remote.classes == sd.open(local, "train").classes and remote.num_samples == 9
    a = list(sd.open(local, "train", shuffle=False).loader(4))
    b = list(remote.loader(4, num_workers=2))  # fsspec in DataLoader worker processes
    assert sorted(k for x in a for k in x["key"]) == sorted(k for x in b for k in x["key"])
    got = {k: x["pose"][i] for x in b for i, k in enumerate(x["key"])}
    for x in a:
        for i, k in enumerate(x["key"]):
            n = int(x["length"][i])
            assert torch.equal(got[k][:n], x["pose"][i, :n])


def test_each_reader_fetches_only_its_own_part_of_a_shard(served, monkeypatch):
    """Four ranks split 3 shards of 3 samples (two shards are shared by two ranks): together they fetch each byte
    about once, because a reader seeks past the samples of other ranks (here with small requests, as a big shard
    has relative to 4 MB)."""
    import signkit.datasets.shards as shards

    server, local, url = served
    monkeypatch.setattr(shards, "STREAM_BLOCK", 4096)
    ds = [sd.open(url, "train", shuffle=False, rank=r, world_size=4) for r in range(4)]
    server.sent.clear()
    keys = [[s["key"] for s in d] for d in ds]
    assert sorted(sum(keys, [])) == sorted(s["key"] for s in sd.open(local, "train", shuffle=False))
    assert [len(k) for k in keys] == [2, 2, 2, 3]
    shard_bytes = sum(p.stat().st_size for p in (local / "shards").glob("train-*.tar"))
    fetched = sum(n for path, n in server.sent.items() if "/shards/" in path)
    assert shard_bytes * 0.9 < fetched < shard_bytes * 1.3, (fetched, shard_bytes)


def test_info_and_verify_read_a_url(served):
    _, local, url = served
    out = CliRunner().invoke(cli, ["info", url, "--json"])
    assert out.exit_code == 0, out.output
    summary = json.loads(out.output)
    assert summary["samples"] == 13 and summary["splits"]["train"]["samples"] == 9 and summary["path"] == url
    out = CliRunner().invoke(cli, ["verify", url, "--json"])
    assert out.exit_code == 0, out.output
    report = json.loads(out.output)
    assert report["ok"] and report["shards"] == len(list((local / "shards").glob("*.tar"))) and report["samples"] == 13


def test_a_changed_remote_shard_fails_verify_and_a_missing_one_is_named(served, tmp_path):
    server, local, _ = served
    copy = server.root / "broken"
    shutil.copytree(local, copy)
    shards = sorted((copy / "shards").glob("train-*.tar"))
    data = bytearray(shards[0].read_bytes())
    data[-2000] ^= 0xFF
    shards[0].write_bytes(bytes(data))
    shards[1].unlink()
    out = CliRunner().invoke(cli, ["verify", f"{server.url}/broken"])
    assert out.exit_code == 1
    assert f"{shards[0].name}: sha256 mismatch" in out.output and f"{shards[1].name}: missing" in out.output
    with pytest.raises(DatasetError, match=f"shard {shards[1].name}: not found at http"):
        list(sd.open(f"{server.url}/broken", "train", shuffle=False))
    shutil.rmtree(copy)


def test_a_connection_that_drops_mid_shard_is_an_error_naming_the_shard(served):
    server, local, url = served
    first = sorted((local / "shards").glob("train-*.tar"))[0].name
    server.cut[f"/ds/shards/{first}"] = 700
    try:
        with pytest.raises(DatasetError, match=f"shard {first}: "):
            list(sd.open(url, "train", shuffle=False))
    finally:
        server.cut.clear()


def test_an_unreachable_or_wrong_url_says_so_in_one_line(served):
    server, _, _ = served
    with pytest.raises(DatasetError, match="no dataset.json"):
        sd.open(f"{server.url}/nothing-here")
    port = server.httpd.server_address[1]
    server_down = f"http://127.0.0.1:{port + 1 if port < 65535 else port - 1}/ds"
    out = CliRunner().invoke(cli, ["info", server_down])
    assert out.exit_code == 1 and "cannot be reached" in out.output and "Traceback" not in out.output
