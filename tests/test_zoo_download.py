"""Zoo registry, cache and downloads, against a real HTTP server on 127.0.0.1 that each test starts.

The server supports Range requests and has modes that drop the connection mid-file, serve wrong bytes,
serve an HTML page, answer 404 or 500, ignore Range, or trickle slowly (for the concurrency test). It also answers
the Hugging Face Hub's repository listing (``/api/models/<repo>/tree/<revision>``) from ``trees``, so the real
huggingface_hub client can list a repository (HF_ENDPOINT points at the server).
Nothing here touches the network or the user's ~/.cache: SIGNKIT_HOME is a tmp_path.
"""

from __future__ import annotations

import errno
import hashlib
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest

from signkit.errors import ZooError
from signkit.zoo import downloading as dl
from signkit.zoo.downloading import DownloadOptions, ZooPinWarning, download, remove, verify
from signkit.zoo.registry import dumps_registry, list_models, read_registry_file, resolve_name

FAST = DownloadOptions(retries=3, backoff=0.01, timeout=10, progress=False)
PAYLOAD = bytes(range(256)) * 4096 + b"tail"  # 1 MiB + 4 bytes


class ZooServer:
    """Serves ``files[path]`` with Range support; ``modes[path]`` picks a misbehaviour; ``log`` records requests."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.modes: dict[str, str] = {}
        self.log: list[tuple[str, str, str | None]] = []
        self.failures: dict[str, int] = {}  # path -> how many more requests get HTTP 500 / a dropped connection
        self.trees: dict[str, list[dict]] = {}  # "/api/models/owner/repo/tree/rev" -> the Hub's JSON listing
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_GET(self):  # noqa: N802 (http.server's naming)
                path, rng = self.path, self.headers.get("Range")
                server.log.append(("GET", path, rng))
                if path.split("?")[0] in server.trees:
                    body = json.dumps(server.trees[path.split("?")[0]]).encode()
                    return self._send(200, body, "application/json")
                mode = server.modes.get(path, "normal")
                if path not in server.files or mode == "404":
                    return self._send(404, b"<html><body>Not Found</body></html>", "text/html")
                data = server.files[path]
                if mode == "wrong":
                    data = bytes(reversed(data))
                if mode == "html":
                    return self._send(200, b"<!DOCTYPE html><html><body>Please log in</body></html>", "text/html")
                if mode == "html-octet":
                    return self._send(200, b"\n<!doctype html><html>quota exceeded</html>", "application/octet-stream")
                if server.failures.get(path, 0) > 0 and mode == "500":
                    server.failures[path] -= 1
                    return self._send(500, b"busy", "text/plain")
                start = 0
                if rng and mode != "norange":
                    start = int(rng.split("=")[1].split("-")[0])
                    if start >= len(data):
                        return self._send(416, b"", "text/plain")
                body = data[start:]
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                if mode in ("drop", "norange") and server.failures.get(path, 0) > 0:
                    server.failures[path] -= 1
                    self.wfile.write(body[: len(body) // 3])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if mode == "slow":
                    for i in range(0, len(body), 64 * 1024):
                        self.wfile.write(body[i : i + 64 * 1024])
                        self.wfile.flush()
                        time.sleep(0.05)
                    return
                self.wfile.write(body)

            def do_HEAD(self):  # noqa: N802 (the Hugging Face Hub protocol: metadata first, then GET)
                server.log.append(("HEAD", self.path, None))
                if self.path not in server.files or server.modes.get(self.path) == "404":
                    return self._send(404, b"", "text/plain")
                self.send_response(200)
                self.send_header("X-Repo-Commit", "0123456789abcdef" * 2 + "01234567")
                self.send_header("ETag", f'"{hashlib.sha256(server.files[self.path]).hexdigest()}"')
                self.send_header("Content-Length", str(len(server.files[self.path])))
                self.end_headers()

            def _send(self, code: int, body: bytes, ctype: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def gets(self, path: str) -> list[str | None]:
        return [rng for method, p, rng in self.log if method == "GET" and p == path]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    srv = ZooServer()
    yield srv
    srv.close()


@pytest.fixture(autouse=True)
def zoo_env(tmp_path, monkeypatch):
    """A private SIGNKIT_HOME, no mirror, online, no proxies (so 127.0.0.1 is reached directly)."""
    monkeypatch.setenv("SIGNKIT_HOME", str(tmp_path / "home"))
    for var in ("SIGNKIT_ZOO_MIRROR", "SIGNKIT_OFFLINE", "HF_HUB_OFFLINE", "SIGNKIT_ZOO_REGISTRY"):
        monkeypatch.delenv(var, raising=False)
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_registry(path: Path, *models: dict) -> Path:
    path.write_text(dumps_registry({"schema": 1, "model": list(models)}), encoding="utf-8")
    return path


def entry(name: str, url: str, data: bytes | None = PAYLOAD, **extra) -> dict:
    spec = {"name": "model.safetensors", "url": url, "size": len(data) if data is not None else None}
    if data is not None:
        spec["sha256"] = sha(data)
    else:
        spec["pin"] = "first-download"
        del spec["size"]
    return {"name": name, "arch": "sigma-tiny", "files": [spec], **extra}


def use_registry(monkeypatch, tmp_path, *models: dict) -> Path:
    path = write_registry(tmp_path / "lab-registry.toml", *models)
    monkeypatch.setenv("SIGNKIT_ZOO_REGISTRY", str(path))
    return path


def cached(name: str) -> Path:
    return Path(os.environ["SIGNKIT_HOME"]) / "zoo" / "models" / name / "model.safetensors"


# ---- downloads --------------------------------------------------------------------------------------------


def test_download_verifies_caches_and_is_not_repeated(server, monkeypatch, tmp_path):
    server.files["/w.bin"] = PAYLOAD
    use_registry(monkeypatch, tmp_path, entry("lab.ok", server.url + "/w.bin"))
    result = download("lab.ok", FAST)
    assert result.weights == cached("lab.ok") and result.weights.read_bytes() == PAYLOAD
    assert download("lab.ok", FAST).weights == result.weights
    assert len(server.gets("/w.bin")) == 1, "a cached file must not be downloaded again"
    assert not list(result.weights.parent.glob(".*incomplete")), "no partial left behind"
    assert verify("lab.ok") == {"model.safetensors": "ok"}


def test_connection_dropped_mid_file_resumes_with_range(server, monkeypatch, tmp_path):
    server.files["/w.bin"] = PAYLOAD
    server.modes["/w.bin"] = "drop"
    server.failures["/w.bin"] = 1
    use_registry(monkeypatch, tmp_path, entry("lab.drop", server.url + "/w.bin"))
    assert download("lab.drop", FAST).weights.read_bytes() == PAYLOAD
    ranges = server.gets("/w.bin")
    assert ranges[0] is None and len(ranges) == 2
    assert ranges[1] == f"bytes={len(PAYLOAD) // 3}-", "the retry must resume where the drop left off"


def test_interrupted_run_resumes_on_the_next_run(server, monkeypatch, tmp_path):
    server.files["/w.bin"] = PAYLOAD
    server.modes["/w.bin"] = "drop"
    server.failures["/w.bin"] = 1
    use_registry(monkeypatch, tmp_path, entry("lab.resume", server.url + "/w.bin"))
    with pytest.raises(ZooError, match="rerun the same command to resume from byte"):
        download("lab.resume", DownloadOptions(retries=0, progress=False))
    assert not cached("lab.resume").exists(), "an incomplete file never appears under its final name"
    assert download("lab.resume", FAST).weights.read_bytes() == PAYLOAD
    assert server.gets("/w.bin")[-1] == f"bytes={len(PAYLOAD) // 3}-"


def test_server_that_ignores_range_restarts_cleanly(server, monkeypatch, tmp_path):
    server.files["/w.bin"] = PAYLOAD
    server.modes["/w.bin"] = "norange"
    server.failures["/w.bin"] = 1
    use_registry(monkeypatch, tmp_path, entry("lab.norange", server.url + "/w.bin"))
    assert download("lab.norange", FAST).weights.read_bytes() == PAYLOAD


def test_transient_server_errors_are_retried(server, monkeypatch, tmp_path):
    server.files["/w.bin"] = PAYLOAD
    server.modes["/w.bin"] = "500"
    server.failures["/w.bin"] = 2
    use_registry(monkeypatch, tmp_path, entry("lab.busy", server.url + "/w.bin"))
    assert download("lab.busy", FAST).weights.read_bytes() == PAYLOAD
    assert len(server.gets("/w.bin")) == 3


def test_checksum_mismatch_discards_the_file_and_says_expected_vs_got(server, monkeypatch, tmp_path):
    server.files["/w.bin"] = PAYLOAD
    server.modes["/w.bin"] = "wrong"
    use_registry(monkeypatch, tmp_path, entry("lab.wrong", server.url + "/w.bin"))
    with pytest.raises(ZooError) as err:
        download("lab.wrong", FAST)
    message = str(err.value)
    assert f"expected sha256 {sha(PAYLOAD)}" in message and f"got {sha(bytes(reversed(PAYLOAD)))}" in message
    assert "discarded" in message
    folder = cached("lab.wrong").parent
    assert not any(folder.iterdir()), "neither the bad file nor a partial may stay in the cache"


@pytest.mark.parametrize("mode", ["html", "html-octet"])
def test_html_page_instead_of_weights(server, monkeypatch, tmp_path, mode):
    server.files["/w.bin"] = PAYLOAD
    server.modes["/w.bin"] = mode
    use_registry(monkeypatch, tmp_path, entry("lab.html", server.url + "/w.bin"))
    with pytest.raises(ZooError, match="HTML page instead of weights"):
        download("lab.html", FAST)
    assert not cached("lab.html").exists()


def test_404_is_not_retried_and_says_so(server, monkeypatch, tmp_path):
    use_registry(monkeypatch, tmp_path, entry("lab.gone", server.url + "/missing.bin"))
    with pytest.raises(ZooError, match="HTTP 404"):
        download("lab.gone", FAST)
    assert len(server.gets("/missing.bin")) == 1


def test_offline_mode_names_what_is_missing_and_how_to_get_it(server, monkeypatch, tmp_path):
    server.files["/w.bin"] = PAYLOAD
    use_registry(monkeypatch, tmp_path, entry("lab.off", server.url + "/w.bin"))
    for var in ("SIGNKIT_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.setenv(var, "1")
        with pytest.raises(ZooError) as err:
            download("lab.off", FAST)
        message = str(err.value)
        assert "lab.off" in message and "model.safetensors" in message and "offline" in message
        assert "signkit zoo download lab.off" in message and "SIGNKIT_ZOO_MIRROR" in message
        monkeypatch.delenv(var)
    assert server.log == [], "offline mode must not send a single request"
    download("lab.off", FAST)
    monkeypatch.setenv("SIGNKIT_OFFLINE", "1")
    assert download("lab.off", FAST).weights.read_bytes() == PAYLOAD, "cached files work offline"


def test_mirror_url_replaces_the_origin(server, monkeypatch, tmp_path):
    server.files["/mirror/lab.m/model.safetensors"] = PAYLOAD
    use_registry(monkeypatch, tmp_path, entry("lab.m", "https://origin.invalid/w.bin"))
    monkeypatch.setenv("SIGNKIT_ZOO_MIRROR", server.url + "/mirror/")
    assert download("lab.m", FAST).weights.read_bytes() == PAYLOAD


def test_mirror_folder_works_offline_and_a_missing_file_is_named(monkeypatch, tmp_path):
    folder = tmp_path / "mirror"
    (folder / "lab.f").mkdir(parents=True)
    use_registry(monkeypatch, tmp_path, entry("lab.f", "https://origin.invalid/w.bin"))
    monkeypatch.setenv("SIGNKIT_ZOO_MIRROR", str(folder))
    monkeypatch.setenv("SIGNKIT_OFFLINE", "1")
    with pytest.raises(ZooError, match=r"lab\.f/model\.safetensors does not exist"):
        download("lab.f", FAST)
    (folder / "lab.f" / "model.safetensors").write_bytes(PAYLOAD)
    assert download("lab.f", FAST).weights.read_bytes() == PAYLOAD


def test_local_relative_path_and_file_url(monkeypatch, tmp_path):
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "a.safetensors").write_bytes(PAYLOAD)
    use_registry(
        monkeypatch,
        tmp_path,
        entry("lab.rel", "weights/a.safetensors"),
        entry("lab.uri", (tmp_path / "weights" / "a.safetensors").as_uri()),
    )
    assert download("lab.rel", FAST).weights.read_bytes() == PAYLOAD
    assert download("lab.uri", FAST).weights.read_bytes() == PAYLOAD


def test_unknown_checksum_is_pinned_on_first_download_with_a_warning(server, monkeypatch, tmp_path):
    server.files["/w.pth"] = PAYLOAD
    use_registry(monkeypatch, tmp_path, entry("lab.pin", server.url + "/w.pth", data=None))
    with pytest.warns(ZooPinWarning, match="recorded"):
        download("lab.pin", FAST)
    pins = json.loads((Path(os.environ["SIGNKIT_HOME"]) / "zoo" / "pins.json").read_text())
    assert pins[server.url + "/w.pth"]["sha256"] == sha(PAYLOAD)
    assert verify("lab.pin") == {"model.safetensors": "ok"}
    remove("lab.pin")
    server.files["/w.pth"] = PAYLOAD[::-1]  # the upload changed behind our back
    with pytest.raises(ZooError, match="pinned on first download"):
        download("lab.pin", FAST)
    server.files["/w.pth"] = PAYLOAD
    with warnings.catch_warnings():
        warnings.simplefilter("error", ZooPinWarning)  # a pinned file downloads again without a new warning
        download("lab.pin", FAST)


def test_verify_deletes_a_corrupted_cache_file_and_remove_cleans_up(server, monkeypatch, tmp_path):
    server.files["/w.bin"] = PAYLOAD
    use_registry(monkeypatch, tmp_path, entry("lab.v", server.url + "/w.bin"))
    path = download("lab.v", FAST).weights
    path.write_bytes(b"bitrot" + PAYLOAD[6:])
    status = verify("lab.v")["model.safetensors"]
    assert status.startswith("corrupt") and not path.exists()
    download("lab.v", FAST)
    with path.open("ab") as f:  # a truncated or appended cache file is noticed without re-hashing
        f.write(b"x")
    with pytest.warns(UserWarning, match="downloading it again"):
        assert download("lab.v", FAST).weights.read_bytes() == PAYLOAD
    assert remove("lab.v") == [path] and not path.exists()
    assert verify("lab.v") == {"model.safetensors": "missing"}


def test_unwritable_cache_says_to_set_signkit_home(server, monkeypatch, tmp_path):
    server.files["/w.bin"] = PAYLOAD
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("SIGNKIT_HOME", str(blocker / "home"))
    use_registry(monkeypatch, tmp_path, entry("lab.ro", server.url + "/w.bin"))
    with pytest.raises(ZooError, match="not writable.*SIGNKIT_HOME"):
        download("lab.ro", FAST)


def test_disk_full_before_and_during_the_download(server, monkeypatch, tmp_path):
    server.files["/w.bin"] = PAYLOAD
    use_registry(monkeypatch, tmp_path, entry("lab.full", server.url + "/w.bin"))
    real_usage = dl.shutil.disk_usage
    monkeypatch.setattr(dl.shutil, "disk_usage", lambda p: real_usage(p)._replace(free=1000))
    with pytest.raises(ZooError, match="not enough disk space"):
        download("lab.full", FAST)
    monkeypatch.setattr(dl.shutil, "disk_usage", real_usage)

    class FullDisk:
        def __init__(self, f):
            self.f = f

        def write(self, block):
            raise OSError(errno.ENOSPC, "No space left on device")

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    monkeypatch.setattr(dl, "open", lambda *a, **k: FullDisk(open(*a, **k)), raising=False)
    with pytest.raises(ZooError, match="disk full.*rerun"):
        download("lab.full", FAST)
    monkeypatch.undo()


def test_two_processes_download_once_and_both_succeed(server, monkeypatch, tmp_path):
    data = os.urandom(3 * 1024 * 1024)
    server.files["/big.bin"] = data
    server.modes["/big.bin"] = "slow"  # ~2.5 s, so the two processes overlap
    registry = use_registry(monkeypatch, tmp_path, entry("lab.ddp", server.url + "/big.bin", data=data))
    code = (
        "import signkit.zoo as z; from signkit.zoo.downloading import DownloadOptions as O; "
        "print(z.download('lab.ddp', O(progress=False)).weights)"
    )
    env = {**os.environ, "SIGNKIT_ZOO_REGISTRY": str(registry)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    for proc, (out, err) in zip(procs, outs, strict=True):
        assert proc.returncode == 0, err
        assert Path(out.strip()).read_bytes() == data
    assert len(server.gets("/big.bin")) == 1, "the second process must wait for the first, not download again"


def test_hf_source_is_fetched_by_huggingface_hub(server, monkeypatch, tmp_path):
    """The real huggingface_hub client, pointed at the local server with HF_ENDPOINT (HEAD for metadata, then GET)."""
    server.files["/owner/repo/resolve/v1.0/sub/dir/w.pth"] = PAYLOAD
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    use_registry(
        monkeypatch,
        tmp_path,
        entry("lab.hf", "hf://owner/repo/sub/dir/w.pth@v1.0"),
        entry("lab.hf-gone", "hf://owner/repo/nothing.pth@v1.0"),
    )
    assert download("lab.hf", FAST).weights.read_bytes() == PAYLOAD
    assert ("GET", "/owner/repo/resolve/v1.0/sub/dir/w.pth", None) in server.log
    assert not (cached("lab.hf").parent / ".hf-staging").exists()
    with pytest.raises(ZooError, match="nothing.pth"):
        download("lab.hf-gone", FAST)
    remove("lab.hf")
    requests = len(server.log)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ZooError, match="offline"):
        download("lab.hf", FAST)
    assert len(server.log) == requests


def test_hf_reference_parsing():
    assert dl.parse_hf("hf://a/b/c.pth") == ("a/b", "c.pth", None)
    assert dl.parse_hf("hf://a/b/x/y.safetensors@main") == ("a/b", "x/y.safetensors", "main")
    with pytest.raises(ZooError, match="bad Hugging Face reference"):
        dl.parse_hf("hf://a/b")


# ---- registry ---------------------------------------------------------------------------------------------


def test_builtin_registry_is_valid_and_honest():
    entries = {e.name: e for e in list_models()}
    base = resolve_name("sigma-base")
    assert not base.released and "have not released" in base.how_to_get
    for e in entries.values():
        for spec in e.files:
            assert spec.sha256 or spec.pin == "first-download", e.name
            assert "example" not in spec.url and "invalid" not in spec.url, f"{e.name} has a placeholder URL"


def test_sigma_base_without_weights_gives_one_clear_message():
    with pytest.raises(ZooError) as err:
        download("sigma-base", FAST)
    message = str(err.value)
    assert "have not released" in message
    assert "signkit pretrain --config sigma-base" in message
    assert "unisign." in message, "it must name a public checkpoint to start from"


def test_sigma_base_from_a_lab_registry_or_a_mirror(server, monkeypatch, tmp_path):
    server.files["/lab/sigma-base.ours.safetensors"] = PAYLOAD
    use_registry(monkeypatch, tmp_path, entry("sigma-base.ours", server.url + "/lab/sigma-base.ours.safetensors"))
    assert download("sigma-base", FAST).entry.name == "sigma-base.ours"
    monkeypatch.delenv("SIGNKIT_ZOO_REGISTRY")
    folder = tmp_path / "mirror" / "sigma-base"
    folder.mkdir(parents=True)
    write_registry(folder / "entry.toml", entry("sigma-base", "model.safetensors"))
    (folder / "model.safetensors").write_bytes(PAYLOAD)
    monkeypatch.setenv("SIGNKIT_ZOO_MIRROR", str(tmp_path / "mirror"))
    assert download("sigma-base", FAST).weights.read_bytes() == PAYLOAD


def test_http_mirror_can_serve_a_release_no_registry_lists(server, monkeypatch, tmp_path):
    entry_file = write_registry(tmp_path / "entry.toml", entry("sigma-base.lab", "model.safetensors"))
    server.files["/m/sigma-base.lab/entry.toml"] = entry_file.read_bytes()
    server.files["/m/sigma-base.lab/model.safetensors"] = PAYLOAD
    monkeypatch.setenv("SIGNKIT_ZOO_MIRROR", server.url + "/m")
    assert download("sigma-base.lab", FAST).weights.read_bytes() == PAYLOAD
    with pytest.raises(ZooError, match="unknown model 'sigma-base.other'"):
        download("sigma-base.other", FAST)


def test_lab_registry_overrides_and_ambiguity(monkeypatch, tmp_path):
    use_registry(
        monkeypatch,
        tmp_path,
        entry("lab.a", "a.safetensors"),
        entry("lab.b", "b.safetensors"),
    )
    with pytest.raises(ZooError, match="ambiguous.*lab.a, lab.b"):
        resolve_name("lab")
    with pytest.raises(ZooError, match="unknown model 'nope'"):
        resolve_name("nope")
    use_registry(monkeypatch, tmp_path, entry("lab.a", "a.safetensors"), entry("lab.b", "b.safetensors", default=True))
    assert resolve_name("lab").name == "lab.b"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sha256": "abc"}, "64 hex digits"),
        ({"sha256": None}, "has no sha256"),
        ({"colour": "red"}, "unknown model field"),
        ({"task": "dance"}, "task must be one of"),
        ({"task": "islr"}, "needs num_classes"),
        ({"files": []}, "released entry needs"),
        ({"status": "unreleased", "files": []}, "needs how_to_get"),
        ({"config_file": "config.json"}, "not one of its files"),
        ({"arch": ""}, "'arch'"),
        ({"name": "Bad Name"}, "arch.tag"),
        ({"size": -1}, "size must be"),
    ],
)
def test_registry_entry_validation(tmp_path, change, message):
    raw = entry("lab.x", "x.safetensors")
    for key, value in change.items():
        if key in ("sha256", "size"):
            if value is None:
                del raw["files"][0][key]
            else:
                raw["files"][0][key] = value
        else:
            raw[key] = value
    path = tmp_path / "r.toml"
    path.write_text(dumps_registry({"schema": 1, "model": [raw]}))
    with pytest.raises(ZooError, match=message):
        read_registry_file(path)


def test_registry_file_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[[model]\n")
    with pytest.raises(ZooError, match="not valid TOML"):
        read_registry_file(bad)
    with pytest.raises(ZooError, match="does not exist"):
        read_registry_file(tmp_path / "none.toml")
    js = tmp_path / "r.json"
    js.write_text(json.dumps({"schema": 1, "model": [entry("lab.json", "x.safetensors")]}))
    assert "lab.json" in read_registry_file(js)


# ---- files resolved by listing a Hugging Face repository against a pattern ------------------------------------


def hub_file(path: str, data: bytes, lfs: bool = True) -> dict:
    """One file of the Hub's tree listing, as /api/models/<repo>/tree/<rev> gives it."""
    item = {"type": "file", "path": path, "size": len(data), "oid": hashlib.sha1(data).hexdigest()}
    if lfs:
        item["lfs"] = {"oid": sha(data), "size": len(data), "pointerSize": 134}
    return item


def pattern_entry(name: str, pattern: str) -> dict:
    spec = {"name": "model.pth", "url": "hf://owner/repo@main", "pattern": pattern, "pin": "first-download"}
    return {"name": name, "arch": "sigma-tiny", "files": [spec]}


@pytest.fixture
def hub(server, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    return server


def listings(server) -> int:
    return sum(1 for method, path, _ in server.log if method == "GET" and path.startswith("/api/"))


def test_pattern_resolves_one_file_by_listing_and_pins_its_name_and_sha256(hub, monkeypatch, tmp_path):
    tree = "/api/models/owner/repo/tree/main"
    other = b"rgb-pose weights"
    hub.trees[tree] = [
        hub_file("csl_daily_rgb_pose_slt.pth", other),
        hub_file("How2Sign/how2sign_pose_slt.pth", PAYLOAD),
        hub_file("README.md", b"# card", lfs=False),
    ]
    hub.files["/owner/repo/resolve/main/How2Sign/how2sign_pose_slt.pth"] = PAYLOAD
    use_registry(monkeypatch, tmp_path, pattern_entry("lab.h2s", r"(?i)(?!.*rgb).*how2sign.*\.pth"))
    with pytest.warns(ZooPinWarning, match="resolved to hf://owner/repo/How2Sign/how2sign_pose_slt.pth@main"):
        assert download("lab.h2s", FAST).weights.read_bytes() == PAYLOAD
    assert listings(hub) == 1
    pins = json.loads((Path(os.environ["SIGNKIT_HOME"]) / "zoo" / "pins.json").read_text())
    pin = pins[r"hf://owner/repo@main#(?i)(?!.*rgb).*how2sign.*\.pth"]
    assert pin["sha256"] == sha(PAYLOAD) and pin["resolved"].endswith("/How2Sign/how2sign_pose_slt.pth@main")
    # later downloads take the pinned file: no listing, and a second matching upload changes nothing
    hub.trees[tree].append(hub_file("how2sign_pose_v2.pth", b"new"))
    remove("lab.h2s")
    assert download("lab.h2s", FAST).weights.read_bytes() == PAYLOAD
    assert listings(hub) == 1
    assert verify("lab.h2s") == {"model.pth": "ok"}


def test_pattern_matching_no_file_or_several_fails_in_one_line(hub, monkeypatch, tmp_path):
    hub.trees["/api/models/owner/repo/tree/main"] = [hub_file("a_pose.pth", b"a"), hub_file("b_pose.pth", b"b")]
    use_registry(
        monkeypatch,
        tmp_path,
        pattern_entry("lab.none", r".*openasl.*\.pth"),
        pattern_entry("lab.many", r".*_pose\.pth"),
    )
    with pytest.raises(ZooError) as err:
        download("lab.none", FAST)
    message = str(err.value)
    assert "matches no file of hf://owner/repo@main" in message and "a_pose.pth, b_pose.pth" in message
    assert "\n" not in message
    with pytest.raises(ZooError) as err:
        download("lab.many", FAST)
    message = str(err.value)
    assert "matches 2 files" in message and "a_pose.pth, b_pose.pth" in message and "never guesses" in message
    assert "\n" not in message
    assert not any(p.startswith("/owner/repo/resolve/") for _, p, _ in hub.log), "nothing may be downloaded"
    assert not (Path(os.environ["SIGNKIT_HOME"]) / "zoo" / "pins.json").exists()


def test_pattern_file_must_match_the_sha256_the_hub_lists(hub, monkeypatch, tmp_path):
    listed = hub_file("x_pose.pth", PAYLOAD)
    hub.trees["/api/models/owner/repo/tree/main"] = [listed]
    hub.files["/owner/repo/resolve/main/x_pose.pth"] = b"tampered" + PAYLOAD[8:]
    use_registry(monkeypatch, tmp_path, pattern_entry("lab.x", r"x_pose\.pth"))
    with pytest.raises(ZooError, match="as the Hugging Face Hub lists it"):
        download("lab.x", FAST)
    assert not (Path(os.environ["SIGNKIT_HOME"]) / "zoo" / "pins.json").exists()


def test_pattern_file_offline_or_through_a_mirror_needs_no_listing(hub, monkeypatch, tmp_path):
    use_registry(monkeypatch, tmp_path, pattern_entry("lab.off", r"x\.pth"))
    monkeypatch.setenv("SIGNKIT_OFFLINE", "1")
    with pytest.raises(ZooError, match=r"lab\.off: model\.pth is not in the cache .*offline"):
        download("lab.off", FAST)
    folder = tmp_path / "mirror" / "lab.off"
    folder.mkdir(parents=True)
    (folder / "model.pth").write_bytes(PAYLOAD)
    monkeypatch.setenv("SIGNKIT_ZOO_MIRROR", str(tmp_path / "mirror"))
    with pytest.warns(ZooPinWarning):
        assert download("lab.off", FAST).weights.read_bytes() == PAYLOAD
    assert hub.log == []


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"url": "hf://owner/repo/file.pth@main"}, "without a path"),
        ({"url": "https://host/x"}, "without a path"),
        ({"pattern": "(unclosed"}, "not a valid regular expression"),
        ({"pin": None, "sha256": "0" * 64}, 'set pin = "first-download"'),
    ],
)
def test_pattern_entry_validation(tmp_path, spec, message):
    raw = pattern_entry("lab.bad", r"x\.pth")
    raw["files"][0].update(spec)
    raw["files"][0] = {k: v for k, v in raw["files"][0].items() if v is not None}
    with pytest.raises(ZooError, match=message):
        read_registry_file(write_registry(tmp_path / "r.toml", raw))


def test_mirror_answering_5xx_is_reported_as_such_not_as_a_missing_entry(server, monkeypatch, tmp_path):
    """Issue 15: a mirror that fails is not a mirror without the entry."""
    server.files["/m/sigma-base.lab/entry.toml"] = b"schema = 1\n"
    server.modes["/m/sigma-base.lab/entry.toml"] = "500"
    server.failures["/m/sigma-base.lab/entry.toml"] = 100
    monkeypatch.setenv("SIGNKIT_ZOO_MIRROR", server.url + "/m")
    with pytest.raises(ZooError) as err:
        download("sigma-base.lab", FAST)
    message = str(err.value)
    assert "HTTP 500" in message and "did not answer for sigma-base.lab/entry.toml" in message
    assert "unknown model" not in message and "has no" not in message
    with pytest.raises(ZooError) as err:  # an unreleased entry asks the mirror too
        download("sigma-base", FAST)
    assert "has no sigma-base/entry.toml" in str(err.value), "a 404 still means: the mirror has no entry"


# ---- tokenizers: fetched through the same path (cache, mirror, offline mode), not assumed in the HF cache -------


def tiny_tokenizer_files(folder: Path) -> dict[str, bytes]:
    """A real (word-level) tokenizer saved by transformers: tokenizer.json + tokenizer_config.json + specials."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2, "hello": 3, "sign": 4}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    fast.save_pretrained(folder)
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def test_a_models_tokenizer_is_fetched_verified_cached_and_named_when_offline(server, monkeypatch, tmp_path):
    from signkit.zoo.tokenizers import fetch_tokenizer, load_tokenizer

    files = tiny_tokenizer_files(tmp_path / "tok")
    for name, data in files.items():
        server.files[f"/tok/{name}"] = data
    registry = write_registry(
        tmp_path / "lab-registry.toml",
        entry("lab.tok", server.url + "/w.bin", config_overrides={"tokenizer": "lab/tiny"}),
    )
    tokenizer = [
        {
            "name": "lab/tiny",
            "files": [{"name": n, "url": f"{server.url}/tok/{n}", "sha256": sha(d)} for n, d in files.items()],
        }
    ]
    registry.write_text(
        dumps_registry(
            {"schema": 1, "model": [read_registry_file(registry)["lab.tok"].to_dict()], "tokenizer": tokenizer}
        )
    )
    monkeypatch.setenv("SIGNKIT_ZOO_REGISTRY", str(registry))
    server.files["/w.bin"] = PAYLOAD
    monkeypatch.setenv("SIGNKIT_OFFLINE", "1")
    with pytest.raises(ZooError) as err:
        fetch_tokenizer("lab/tiny", FAST)
    message = str(err.value)
    assert "tokenizer lab/tiny:" in message and "not in the cache" in message and "offline" in message
    assert "tokenizer.lab--tiny/" in message and "\n" not in message and server.log == []
    monkeypatch.delenv("SIGNKIT_OFFLINE")
    result = download("lab.tok", FAST)  # a model's download brings its tokenizer along
    assert result.tokenizer == Path(os.environ["SIGNKIT_HOME"]) / "zoo" / "models" / "tokenizer.lab--tiny"
    assert sorted(p.name for p in result.tokenizer.iterdir() if not p.name.startswith(".")) == sorted(files)
    requests = len(server.log)
    monkeypatch.setenv("SIGNKIT_OFFLINE", "1")
    tok = load_tokenizer("lab/tiny", FAST)  # from the cache, offline, no request
    assert tok("hello sign")["input_ids"][:2] == [3, 4] and len(server.log) == requests
    server.modes["/tok/tokenizer.json"] = "wrong"  # a corrupt upload is refused, as for weights
    monkeypatch.delenv("SIGNKIT_OFFLINE")
    monkeypatch.setenv("SIGNKIT_HOME", str(tmp_path / "home2"))
    with pytest.raises(ZooError, match="checksum mismatch for tokenizer.lab--tiny/tokenizer.json"):
        fetch_tokenizer("lab/tiny", FAST)


def test_builtin_registry_fetches_the_mt5_tokenizer_for_unisign_family_models():
    from signkit.zoo.downloading import tokenizer_name
    from signkit.zoo.registry import load_tokenizer_entries

    mt5 = load_tokenizer_entries()["google/mt5-base"]
    assert {"spiece.model", "tokenizer_config.json"} <= {f.name for f in mt5.files}
    for name in ("geosign.csl-daily-slt", "geosign.csl-news-pretrain", "unisign.how2sign-slt"):
        assert tokenizer_name(resolve_name(name), {}) == "google/mt5-base"
    assert tokenizer_name(resolve_name("sigma-base"), {}) == "google/mt5-base"


def test_an_mt5_style_tokenizer_folder_loads_or_says_what_it_needs(tmp_path):
    """The file set the built-in google/mt5-base entry fetches (spiece.model + configs), with a real SentencePiece
    model written through protobuf: transformers builds the tokenizer from it when sentencepiece (and protobuf >= 5)
    are installed; otherwise the one-line error says what is missing."""
    from transformers.convert_slow_tokenizer import import_protobuf

    from signkit.zoo.tokenizers import load_tokenizer

    try:
        pb = import_protobuf()
    except Exception:  # noqa: BLE001 (no protobuf at all: nothing to build the file with)
        pytest.skip("protobuf is not installed")
    model = pb.ModelProto()
    for piece, score, kind in [("<pad>", 0, 3), ("</s>", 0, 3), ("<unk>", 0, 2), ("▁hello", -2, 1), ("▁sign", -2, 1)]:
        p = model.pieces.add()
        p.piece, p.score, p.type = piece, score, kind
    model.trainer_spec.model_type, model.trainer_spec.unk_id, model.trainer_spec.bos_id = 1, 2, -1
    folder = tmp_path / "mt5"
    folder.mkdir()
    (folder / "spiece.model").write_bytes(model.SerializeToString())
    (folder / "config.json").write_text(json.dumps({"model_type": "mt5"}))
    specials = {"eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}
    (folder / "tokenizer_config.json").write_text(json.dumps({**specials, "extra_ids": 0}))
    (folder / "special_tokens_map.json").write_text(json.dumps(specials))
    try:
        tok = load_tokenizer(str(folder))
    except ZooError as e:
        assert "sentencepiece" in str(e) and "protobuf >= 5" in str(e) and "\n" not in str(e)
    else:
        assert tok("hello sign")["input_ids"] == [3, 4, 1]
