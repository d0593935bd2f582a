import hashlib
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mlm_lab.data.download import download_path, fetch, resolve
from mlm_lab.errors import ConfigError

BODY = bytes(range(256)) * 4000  # about 1 MB, several read blocks


class Server:
    """A local HTTP server serving BODY at any path; it can ignore Range and cut the first answers short."""

    def __init__(self):
        self.requests: list[dict] = []  # path and Range header of every request
        self.drop_first = 0  # cut this many answers off half-way
        self.honour_range = True
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append({"path": self.path, "range": self.headers.get("Range")})
                if self.path.startswith("/missing"):
                    self.send_error(404)
                    return
                start = int(self.headers["Range"][6:-1]) if self.headers.get("Range") and server.honour_range else 0
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(BODY) - 1}/{len(BODY)}")
                self.send_header("Content-Length", str(len(BODY) - start))
                self.end_headers()
                payload = BODY[start:]
                if server.drop_first > 0:
                    server.drop_first -= 1
                    self.wfile.write(payload[: len(payload) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)  # the connection dies mid-file
                    self.close_connection = True
                    return
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


def test_downloads_once_then_uses_the_cache(server, tmp_path):
    url = server.url + "/files/corpus.txt?download=true"
    path = fetch(url, str(tmp_path), progress=False)
    assert path.read_bytes() == BODY
    assert path == tmp_path / "downloads" / f"{hashlib.sha256(url.encode()).hexdigest()[:16]}-corpus.txt"
    assert not path.with_name(path.name + ".part").exists()
    assert fetch(url, str(tmp_path), progress=False) == path
    assert len(server.requests) == 1  # the second fetch never touched the network


def test_dropped_connection_is_resumed_with_a_range_request(server, tmp_path):
    server.drop_first = 1
    path = fetch(server.url + "/a.txt", str(tmp_path), progress=False)
    assert path.read_bytes() == BODY
    assert [r["range"] for r in server.requests] == [None, f"bytes={len(BODY) // 2}-"]


def test_partial_file_from_an_earlier_run_is_resumed(server, tmp_path):
    url = server.url + "/a.txt"
    part = download_path(url, str(tmp_path)).with_name(download_path(url, str(tmp_path)).name + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(BODY[:1000])
    assert fetch(url, str(tmp_path), progress=False).read_bytes() == BODY
    assert server.requests[0]["range"] == "bytes=1000-"


def test_server_ignoring_range_restarts_the_file(server, tmp_path):
    server.drop_first, server.honour_range = 1, False
    path = fetch(server.url + "/a.txt", str(tmp_path), progress=False)
    assert path.read_bytes() == BODY  # not the first half twice
    assert len(server.requests) == 2


def test_connection_that_keeps_dropping_keeps_the_part_and_says_so(server, tmp_path):
    server.drop_first = 10
    with pytest.raises(ConfigError, match=r"kept breaking off.*run again to resume.*data\.corpus\.path=/local/file"):
        fetch(server.url + "/a.txt", str(tmp_path), progress=False)
    server.drop_first = 0
    assert fetch(server.url + "/a.txt", str(tmp_path), progress=False).read_bytes() == BODY


def test_sha256_is_checked(server, tmp_path):
    good = hashlib.sha256(BODY).hexdigest()
    assert fetch(server.url + "/a.txt", str(tmp_path), sha256=good.upper(), progress=False).read_bytes() == BODY
    bad = "0" * 64
    with pytest.raises(ConfigError, match=rf"data\.corpus\.sha256: .*/b\.txt has sha256 {good}, but .* expects {bad}.*sha256={good}"):
        fetch(server.url + "/b.txt", str(tmp_path), sha256=bad, progress=False)
    assert [p for p in (tmp_path / "downloads").glob("*b.txt*") if p.suffix != ".lock"] == []  # nothing bad is left in the cache


def test_cached_copy_with_a_wrong_hash_is_fetched_again(server, tmp_path):
    url = server.url + "/a.txt"
    target = download_path(url, str(tmp_path))
    target.parent.mkdir(parents=True)
    target.write_bytes(b"damaged")
    assert fetch(url, str(tmp_path), sha256=hashlib.sha256(BODY).hexdigest(), progress=False).read_bytes() == BODY


def test_unreachable_without_cache_names_url_and_override(tmp_path):
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/pg2000.txt"
    with pytest.raises(ConfigError, match=rf"data\.corpus\.val_path: cannot reach {url} .*data\.corpus\.val_path=/local/file"):
        fetch(url, str(tmp_path), key="data.corpus.val_path", progress=False, timeout=5)


def test_http_error_names_the_status(server, tmp_path):
    with pytest.raises(ConfigError, match=r"answered HTTP 404.*data\.corpus\.path=/local/file"):
        fetch(server.url + "/missing.txt", str(tmp_path), progress=False)


def test_resolve_passes_local_paths_through_and_checks_their_hash(tmp_path):
    f = tmp_path / "local.txt"
    f.write_text("x")
    assert resolve(str(f), str(tmp_path)) == f
    assert resolve(f"file://{f}", None) == f
    with pytest.raises(ConfigError, match=r"data\.corpus\.sha256: .*local\.txt has sha256"):
        resolve(str(f), None, sha256="0" * 64)


def test_cache_dir_defaults_to_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MLM_LAB_CACHE", str(tmp_path / "env"))
    assert download_path("https://example.org/x/y.parquet", None).parent == tmp_path / "env" / "downloads"


def test_parallel_fetches_of_one_url_download_it_once(server, tmp_path):
    url = server.url + "/shared.txt"
    results: list = []
    threads = [threading.Thread(target=lambda: results.append(fetch(url, str(tmp_path), progress=False))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and all(path.read_bytes() == BODY for path in results)
    assert len(server.requests) == 1  # the others waited for the lock and found the finished file
