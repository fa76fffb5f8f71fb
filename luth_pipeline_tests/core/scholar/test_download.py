"""Downloads against a loopback HTTP server: retries, limits, content types, sha256 dedup."""

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from luth_pipeline.core.scholar.config import DownloadConfig
from luth_pipeline.core.scholar.download import BlobStore, FetchFailure, fetch, make_client
from luth_pipeline.demo_data import DEMO_DATA

PDF = (DEMO_DATA / "scholar" / "pdfs" / "bac-2022-svt-metropole-sujet.pdf").read_bytes()


class PdfServer:
    """Routes: /ok.pdf, /mirror.pdf (same bytes), /flaky.pdf (503 twice), /html.pdf, /missing.pdf,
    /big.pdf (announces a huge Content-Length), /stream.pdf (no Content-Length, too long)."""

    def __init__(self):
        self.hits: dict[str, int] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                server.hits[self.path] = server.hits.get(self.path, 0) + 1
                if self.path in ("/ok.pdf", "/mirror.pdf") or (self.path == "/flaky.pdf" and server.hits[self.path] > 2):
                    return self._send(200, PDF, "application/pdf")
                if self.path == "/flaky.pdf":
                    return self._send(503, b"busy", "text/plain")
                if self.path == "/html.pdf":
                    return self._send(200, b"<html>login</html>", "text/html; charset=utf-8")
                if self.path == "/big.pdf":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/pdf")
                    self.send_header("Content-Length", str(10**9))
                    self.end_headers()
                    return
                if self.path == "/stream.pdf":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/pdf")
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(b"%PDF-1.7\n" + b"0" * 300_000)
                    return
                self._send(404, b"not found", "text/plain")

            def _send(self, status, body, content_type):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = PdfServer()
    yield s
    s.close()


@pytest.fixture
def config():
    return DownloadConfig(max_bytes=200_000, attempts=3, backoff_s=0.01, timeout_s=5)


def _fetch(url, config, blobs, tmp_path):
    with make_client(config) as client:
        return fetch(url, config, blobs, client, tmp_path)


def test_download_is_stored_by_sha256_once(server, config, tmp_path):
    blobs = BlobStore(str(tmp_path / "blobs"))
    first = _fetch(f"{server.url}/ok.pdf", config, blobs, tmp_path)
    second = _fetch(f"{server.url}/mirror.pdf", config, blobs, tmp_path)
    assert first.sha256 == second.sha256 == hashlib.sha256(PDF).hexdigest()
    assert (first.new, second.new) == (True, False)
    assert blobs.get(first.sha256) == PDF
    assert len(list((tmp_path / "blobs").rglob("*.pdf"))) == 1


def test_transient_errors_are_retried(server, config, tmp_path):
    fetched = _fetch(f"{server.url}/flaky.pdf", config, BlobStore(str(tmp_path / "b")), tmp_path)
    assert fetched.data == PDF and server.hits["/flaky.pdf"] == 3


def test_retries_give_up_with_the_reason(server, tmp_path):
    config = DownloadConfig(attempts=2, backoff_s=0.01)
    with pytest.raises(FetchFailure, match=r"gave up after 2 attempts \(HTTP 503\)"):
        _fetch(f"{server.url}/flaky.pdf", config, BlobStore(str(tmp_path / "b")), tmp_path)


@pytest.mark.parametrize("path, reason", [
    ("/missing.pdf", "HTTP 404"),
    ("/html.pdf", "content type 'text/html' is not a PDF type"),
    ("/big.pdf", "too large: server announces 1,000,000,000 bytes"),
    ("/stream.pdf", "too large: more than scholar.download.max_bytes=200,000 bytes received"),
])
def test_refused_downloads_say_why(server, config, tmp_path, path, reason):
    with pytest.raises(FetchFailure) as excinfo:
        _fetch(f"{server.url}{path}", config, BlobStore(str(tmp_path / "b")), tmp_path)
    assert reason in str(excinfo.value)
    assert server.hits[path] == 1  # permanent failures are not retried


def test_unreachable_host_is_retried_then_reported(config, tmp_path):
    with make_client(config) as client, pytest.raises(FetchFailure, match="ConnectError"):
        fetch("http://127.0.0.1:9/exam.pdf", config, BlobStore(str(tmp_path / "b")), client, tmp_path)


def test_local_paths_and_unknown_schemes(config, tmp_path):
    blobs = BlobStore(str(tmp_path / "b"))
    (tmp_path / "a.pdf").write_bytes(PDF)
    with httpx.Client() as client:
        assert fetch("a.pdf", config, blobs, client, tmp_path).sha256 == hashlib.sha256(PDF).hexdigest()
        with pytest.raises(FetchFailure, match="unsupported location"):
            fetch("ftp://host/a.pdf", config, blobs, client, tmp_path)
