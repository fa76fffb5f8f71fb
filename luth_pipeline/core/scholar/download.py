"""Fetch exam PDFs (http(s) URLs or local paths) into a content-addressed blob store.

A blob's name is the sha256 of its bytes, so the same PDF listed twice (two URLs, a re-upload)
is stored once, and a re-run finds it already there. Every failure becomes a `FetchFailure`
with the reason; nothing raises past `fetch`, so one bad URL never stops the other files.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pyarrow.fs as pafs

from luth_pipeline.core.scholar.config import DownloadConfig


class FetchFailure(Exception):
    """The per-file reason a PDF could not be fetched."""


class _Retryable(Exception):
    pass


class BlobStore:
    """`<root>/<sha[:2]>/<sha>.pdf` on a local folder or an object store (pyarrow filesystem)."""

    def __init__(self, root: str):
        self.root = root.rstrip("/")
        self.fs, self._base = pafs.FileSystem.from_uri(self.root if "://" in self.root else str(Path(self.root).absolute()))
        # Downloads run in threads: two copies of one PDF (a shared correction) must store it once.
        self._lock = threading.Lock()

    def _path(self, sha256: str) -> str:
        return f"{self._base}/{sha256[:2]}/{sha256}.pdf"

    def uri(self, sha256: str) -> str:
        return f"{self.root}/{sha256[:2]}/{sha256}.pdf"

    def exists(self, sha256: str) -> bool:
        return self.fs.get_file_info(self._path(sha256)).type == pafs.FileType.File

    def put(self, data: bytes) -> tuple[str, bool]:
        """Store `data`; returns (sha256, whether it was new)."""
        sha256 = hashlib.sha256(data).hexdigest()
        with self._lock:
            if self.exists(sha256):
                return sha256, False
            path = self._path(sha256)
            self.fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
            tmp = f"{path}.{random.getrandbits(32):08x}.tmp"
            with self.fs.open_output_stream(tmp) as sink:
                sink.write(data)
            self.fs.move(tmp, path)  # atomic rename locally; a single PUT on object stores
        return sha256, True

    def get(self, sha256: str) -> bytes:
        with self.fs.open_input_stream(self._path(sha256)) as source:
            return source.read()


def _read_local(path: Path, config: DownloadConfig) -> bytes:
    if not path.is_file():
        raise FetchFailure(f"missing file: {path} does not exist; fix the path in the scholar manifest")
    size = path.stat().st_size
    if size > config.max_bytes:
        raise FetchFailure(f"too large: {size:,} bytes > scholar.download.max_bytes={config.max_bytes:,}")
    return path.read_bytes()


def _download_once(client: httpx.Client, url: str, config: DownloadConfig) -> bytes:
    try:
        with client.stream("GET", url) as response:
            if response.status_code in (408, 425, 429) or response.status_code >= 500:
                raise _Retryable(f"HTTP {response.status_code}")
            if response.status_code >= 400:
                raise FetchFailure(f"HTTP {response.status_code} for {url}: the URL is wrong or the file was removed")
            content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
            if content_type and content_type not in config.allowed_content_types:
                raise FetchFailure(
                    f"content type {content_type!r} is not a PDF type ({', '.join(config.allowed_content_types)}): "
                    "the server sent an error or login page instead of the file"
                )
            declared = int(response.headers.get("content-length") or 0)
            if declared > config.max_bytes:
                raise FetchFailure(f"too large: server announces {declared:,} bytes > scholar.download.max_bytes={config.max_bytes:,}")
            chunks, received = [], 0
            for chunk in response.iter_bytes():
                received += len(chunk)
                if received > config.max_bytes:  # a server may lie about or omit Content-Length
                    raise FetchFailure(f"too large: more than scholar.download.max_bytes={config.max_bytes:,} bytes received")
                chunks.append(chunk)
            return b"".join(chunks)
    except (httpx.TimeoutException, httpx.TransportError) as exc:
        raise _Retryable(f"{type(exc).__name__}: {exc}") from exc


def _download(client: httpx.Client, url: str, config: DownloadConfig) -> bytes:
    delay = config.backoff_s
    for attempt in range(1, config.attempts + 1):
        try:
            return _download_once(client, url, config)
        except _Retryable as exc:
            if attempt == config.attempts:
                raise FetchFailure(f"gave up after {attempt} attempts ({exc}); the server is down or rate-limiting, retry later") from None
            time.sleep(delay * (0.5 + random.random()))  # jitter: parallel workers do not retry in lockstep
            delay *= 2
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class Fetched:
    data: bytes
    sha256: str
    new: bool  # False when identical bytes were already stored


def make_client(config: DownloadConfig) -> httpx.Client:
    return httpx.Client(
        timeout=config.timeout_s, follow_redirects=True, headers={"User-Agent": config.user_agent},
        limits=httpx.Limits(max_connections=config.concurrency),
    )


def fetch(location: str, config: DownloadConfig, blobs: BlobStore, client: httpx.Client, root: Path) -> Fetched:
    """Bytes of a URL or path, stored under their sha256; raises `FetchFailure` with the reason."""
    if location.startswith(("http://", "https://")):
        data = _download(client, location, config)
    elif "://" in location:
        raise FetchFailure(f"unsupported location {location!r}: use an http(s) URL or a local path")
    else:
        path = Path(location).expanduser()
        data = _read_local(path if path.is_absolute() else root / path, config)
    sha256, new = blobs.put(data)
    return Fetched(data, sha256, new)
