"""Dataset lookup order and downloads (against a local HTTP server only: never the network)."""

from __future__ import annotations

import hashlib
import socket
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from basrec.cli import main
from basrec.data import catalog
from basrec.data.catalog import CatalogEntry, cache_dir, resolve_dataset, search_dirs
from basrec.errors import DataError

CONTENT = b"1 1 2 3\n2 2 3 4 5\n3 1 5 4\n"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A private cache and no ambient settings; any non-local URL fails the test."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("BASREC_DATA_DIR", raising=False)
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    real = urllib.request.urlopen

    def local_only(url: Any, *args: Any, **kwargs: Any) -> Any:
        host = urllib.parse.urlsplit(url if isinstance(url, str) else url.full_url).hostname
        assert host == "127.0.0.1", f"test tried to reach {url}"
        return real(url, *args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", local_only)


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """Serve tmp_path/www on 127.0.0.1 (free port); yields the base URL."""
    root = tmp_path / "www"
    root.mkdir()
    (root / "Beauty.txt").write_bytes(CONTENT)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def _point_beauty_at(monkeypatch: pytest.MonkeyPatch, url: str, sha256: str) -> CatalogEntry:
    entry = CatalogEntry("beauty", "Beauty.txt", sha256, url)
    monkeypatch.setitem(catalog.CATALOG, "beauty", entry)
    return entry


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_cache_dir_follows_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert cache_dir() == tmp_path / "xdg" / "basrec"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "basrec"


def test_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir, env_dir, cache = tmp_path / "d", tmp_path / "env", tmp_path / "xdg" / "basrec"
    for d in (data_dir, env_dir, cache):
        d.mkdir(parents=True)
        (d / "Beauty.txt").write_text(CONTENT.decode())
    monkeypatch.setenv("BASREC_DATA_DIR", str(env_dir))
    assert search_dirs(str(data_dir)) == [data_dir, env_dir, cache]
    assert resolve_dataset("beauty", str(data_dir)) == data_dir / "Beauty.txt"
    assert resolve_dataset("Beauty", str(data_dir)) == data_dir / "Beauty.txt"
    (data_dir / "Beauty.txt").unlink()
    assert resolve_dataset("beauty", str(data_dir)) == env_dir / "Beauty.txt"
    assert resolve_dataset("beauty") == env_dir / "Beauty.txt"
    (env_dir / "Beauty.txt").unlink()
    assert resolve_dataset("beauty", str(data_dir)) == cache / "Beauty.txt"
    (cache / "Beauty.txt").unlink()
    with pytest.raises(DataError) as info:
        resolve_dataset("beauty", str(data_dir), download=False)
    message = str(info.value)
    assert "put Beauty.txt in one of" in message
    assert str(data_dir) in message and str(env_dir) in message and str(cache) in message


def test_a_path_works_as_a_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "mine.txt"
    path.write_bytes(CONTENT)
    assert resolve_dataset(str(path)) == path
    assert resolve_dataset(str(path), data_dir=str(tmp_path / "elsewhere")) == path
    # a bare file name is also looked up in the data folders
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    assert resolve_dataset("mine.txt", data_dir=str(tmp_path)) == tmp_path / "mine.txt"
    with pytest.raises(DataError, match="no such file, and not a known dataset name"):
        resolve_dataset(str(tmp_path / "other.txt"))
    with pytest.raises(DataError, match="a folder, not a file"):
        resolve_dataset(str(tmp_path))
    assert main(["data", "stats", str(path), "--json"]) == 0
    assert '"interactions": 10' in capsys.readouterr().out


def test_fetch_success_and_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 server: str) -> None:
    _point_beauty_at(monkeypatch, server + "Beauty.txt", hashlib.sha256(CONTENT).hexdigest())
    got = resolve_dataset("beauty")
    cache = tmp_path / "xdg" / "basrec"
    assert got == cache / "Beauty.txt"
    assert got.read_bytes() == CONTENT
    assert sorted(p.name for p in cache.iterdir()) == ["Beauty.txt"]
    # found in the cache now: no download (the URL no longer works)
    _point_beauty_at(monkeypatch, f"http://127.0.0.1:{_closed_port()}/Beauty.txt",
                     hashlib.sha256(CONTENT).hexdigest())
    assert resolve_dataset("beauty") == got


def test_checksum_mismatch_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          server: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    _point_beauty_at(monkeypatch, server + "Beauty.txt", "0" * 64)
    with pytest.raises(DataError, match="checksum mismatch") as info:
        resolve_dataset("beauty")
    assert hashlib.sha256(CONTENT).hexdigest() in str(info.value)
    cache = tmp_path / "xdg" / "basrec"
    assert not cache.exists() or list(cache.iterdir()) == []
    assert main(["data", "stats", "beauty"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "checksum mismatch" in err


@pytest.mark.parametrize("kind", ["closed port", "404"])
def test_unreachable_says_where_to_put_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                server: str, kind: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    url = (f"http://127.0.0.1:{_closed_port()}/Beauty.txt" if kind == "closed port"
           else server + "missing/Beauty.txt")
    _point_beauty_at(monkeypatch, url, hashlib.sha256(CONTENT).hexdigest())
    data_dir = tmp_path / "d"
    with pytest.raises(DataError) as info:
        resolve_dataset("beauty", str(data_dir))
    message = str(info.value)
    assert "could not be downloaded from " + url in message
    assert "put Beauty.txt in --data-dir, $BASREC_DATA_DIR or " in message
    assert str(tmp_path / "xdg" / "basrec") in message
    assert not (tmp_path / "xdg" / "basrec" / "Beauty.txt").exists()
    assert main(["data", "stats", "beauty", "--data-dir", str(data_dir)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "put Beauty.txt in" in err
