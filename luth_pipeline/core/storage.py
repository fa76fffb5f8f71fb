"""Where datasets and checkpoints live: `<root>/<asset>/<partition>/<table>.parquet`, and folder
outputs (checkpoints, the HF dataset folder) at `<root>/<asset>/<partition>/`.

The root is a local folder or an object-store URI (s3://bucket/prefix); pyarrow's filesystem
layer serves both. Writes are atomic: a reader never sees a half-written table (local files are
written to a temporary name then renamed; an S3 PUT is atomic per object). Folder outputs of an
object-store root go through a local mirror (`local_dir` → write → `publish_dir`; `fetch_dir`
→ read), so training, merging and evaluation run the same code on a laptop and on a cluster.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from filelock import FileLock, Timeout


class MissingInputError(FileNotFoundError):
    """An upstream asset has not been materialized yet."""


def partition_dirname(partition: str | dict[str, str] | None) -> str:
    """A filesystem-safe folder name for a partition key (multi-partitions as `dim=value,...`)."""
    if partition is None:
        return "_all"
    if isinstance(partition, dict):
        partition = ",".join(f"{k}={v}" for k, v in sorted(partition.items()))
    return partition.replace("/", "__")


def default_mirror_dir() -> Path:
    """Where folders of an object-store root are mirrored locally (`LUTH_STORE_MIRROR` to move it)."""
    return Path(os.environ.get("LUTH_STORE_MIRROR") or Path.home() / ".cache" / "luth" / "store")


class DatasetStore:
    def __init__(self, root: str, mirror_dir: str | Path | None = None):
        self.root = root.rstrip("/")
        self.fs, self._base = pafs.FileSystem.from_uri(self.root if "://" in self.root else os.path.abspath(self.root))
        self.is_local = isinstance(self.fs, pafs.LocalFileSystem)
        # Folder outputs (checkpoints, the HF dataset folder) are written and read through a local
        # copy when the root is an object store: `publish_dir` uploads it, `fetch_dir` refreshes it.
        self.mirror = None if self.is_local else Path(mirror_dir or default_mirror_dir()) / self.root.replace("://", "/")

    def uri(self, asset: str, partition: str | dict[str, str] | None = None, table: str = "data") -> str:
        return f"{self.root}/{asset}/{partition_dirname(partition)}/{table}.parquet"

    def _path(self, asset: str, partition, table: str) -> str:
        return f"{self._base}/{asset}/{partition_dirname(partition)}/{table}.parquet"

    def exists(self, asset: str, partition=None, table: str = "data") -> bool:
        return self.fs.get_file_info(self._path(asset, partition, table)).type == pafs.FileType.File

    def write(self, df: pl.DataFrame, asset: str, partition=None, table: str = "data") -> str:
        if self.is_local:
            self._replace_local(self._path(asset, partition, table), df.write_parquet)
        else:
            path = self._path(asset, partition, table)
            self.fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
            with self.fs.open_output_stream(path) as sink:
                pq.write_table(df.to_arrow(), sink)
        return self.uri(asset, partition, table)

    def write_file(self, payload: bytes, asset: str, partition=None, name: str = "file") -> str:
        """A small file (a plot, a report) in the partition's folder, beside its tables, written
        atomically like a table; returns where it lies (a local path, or a URI in the object store)."""
        path = self._dir_path(asset, partition, name)
        if self.is_local:
            self._replace_local(path, lambda tmp: Path(tmp).write_bytes(payload))
            return str(self.local_dir(asset, partition, name))
        self.fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
        with self.fs.open_output_stream(path) as sink:
            sink.write(payload)
        return self.dir_uri(asset, partition, name)

    @staticmethod
    def _replace_local(path: str, write: Callable[[str], object]) -> None:
        """`write(tmp)` a temporary sibling of `path`, then rename it over `path`: no reader sees half a file."""
        parent, name = path.rsplit("/", 1)
        os.makedirs(parent, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{name}.", suffix=".tmp")
        os.close(fd)
        try:
            write(tmp)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _existing(self, asset: str, partition, table: str) -> str:
        if not self.exists(asset, partition, table):
            where = f" partition {partition!r}" if partition is not None else ""
            raise MissingInputError(
                f"{asset}{where} has no `{table}` table at {self.uri(asset, partition, table)}: "
                f"materialize it first (e.g. `dagster asset materialize -m luth_pipeline.definitions --select {asset}`)"
            )
        return self._path(asset, partition, table)

    def read(self, asset: str, partition=None, table: str = "data", columns: Sequence[str] | None = None) -> pl.DataFrame:
        """The whole table (or some of its columns) in memory; large tables: `iter_batches`."""
        with self.fs.open_input_file(self._existing(asset, partition, table)) as source:
            return pl.from_arrow(pq.read_table(source, columns=list(columns) if columns else None))

    def num_rows(self, asset: str, partition=None, table: str = "data") -> int:
        with self.fs.open_input_file(self._existing(asset, partition, table)) as source:
            return pq.ParquetFile(source).metadata.num_rows

    def schema(self, asset: str, partition=None, table: str = "data") -> pa.Schema:
        """The table's Arrow schema, from the Parquet footer (no row is read)."""
        with self.fs.open_input_file(self._existing(asset, partition, table)) as source:
            return pq.ParquetFile(source).schema_arrow

    def iter_batches(
        self, asset: str, partition=None, table: str = "data", columns: Sequence[str] | None = None, batch_size: int = 10_000
    ) -> Iterator[pa.RecordBatch]:
        """The table as Arrow record batches of at most `batch_size` rows, read one at a time: a
        reader holds one batch, whatever the table's size."""
        with self.fs.open_input_file(self._existing(asset, partition, table)) as source:
            yield from pq.ParquetFile(source).iter_batches(batch_size=batch_size, columns=list(columns) if columns else None)

    @contextlib.contextmanager
    def writer(self, asset: str, partition, table: str, schema: pa.Schema) -> Iterator[pq.ParquetWriter]:
        """A Parquet writer for a table written batch by batch (`write_batch`/`write_table`),
        published atomically when the block ends without error (nothing is left otherwise)."""
        path = self._path(asset, partition, table)
        parent = path.rsplit("/", 1)[0]
        staging = parent if self.is_local else None  # object stores: stage locally, then one upload
        if self.is_local:
            self.fs.create_dir(parent, recursive=True)
        fd, tmp = tempfile.mkstemp(dir=staging, prefix=f".{table}.", suffix=".tmp")
        os.close(fd)
        try:
            with pq.ParquetWriter(tmp, schema) as sink:
                yield sink
            if self.is_local:
                os.replace(tmp, path)
            else:
                self.fs.create_dir(parent, recursive=True)
                pafs.copy_files(tmp, path, source_filesystem=pafs.LocalFileSystem(), destination_filesystem=self.fs)
        finally:
            Path(tmp).unlink(missing_ok=True)

    def partition_dirs(self, asset: str) -> list[str]:
        """Folder names of the partitions of `asset` that hold at least one table (sorted)."""
        info = self.fs.get_file_info(pafs.FileSelector(f"{self._base}/{asset}", allow_not_found=True))
        return sorted(i.base_name for i in info if i.type == pafs.FileType.Directory and not i.base_name.startswith("."))

    @contextlib.contextmanager
    def exclusive(self, asset: str, partition=None, on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
        """Hold the one-writer lock of an asset partition (local roots) while materializing it.

        Each table is written atomically anyway; the lock keeps two concurrent materializations
        of the same partition from interleaving their tables (one run's `data` beside the other's
        `rejects`) or racing on a directory output. Object stores have no shared lock here:
        a production instance serializes through Dagster's run/pool limits instead.
        """
        if not self.is_local:
            yield
            return
        lock_path = Path(self._base) / ".locks" / asset / f"{partition_dirname(partition)}.lock"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(lock_path)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            if on_wait is not None:
                on_wait(f"another materialization of {asset}" + (f"[{partition_dirname(partition)}]" if partition else "")
                        + f" is writing; waiting for it to finish (lock {lock_path})")
            lock.acquire()
        try:
            yield
        finally:
            lock.release()

    def local_dir(self, asset: str, partition=None, name: str | None = None) -> Path:
        """The local folder of a directory-shaped output (checkpoint, dataset folder): the folder
        itself under a local root, its mirror under an object-store root (`publish_dir` after
        writing it, `fetch_dir` before reading it)."""
        folder = (Path(self._base) if self.is_local else self.mirror) / asset / partition_dirname(partition)
        return folder / name if name else folder

    def dir_uri(self, asset: str, partition=None, name: str | None = None) -> str:
        return f"{self.root}/{asset}/{partition_dirname(partition)}" + (f"/{name}" if name else "")

    def _dir_path(self, asset: str, partition, name: str | None) -> str:
        return f"{self._base}/{asset}/{partition_dirname(partition)}" + (f"/{name}" if name else "")

    def _remote_files(self, remote: str) -> dict[str, pafs.FileInfo]:
        infos = self.fs.get_file_info(pafs.FileSelector(remote, recursive=True, allow_not_found=True))
        return {i.path[len(remote) + 1 :]: i for i in infos if i.type == pafs.FileType.File}

    def publish_dir(self, asset: str, partition=None, name: str | None = None) -> str:
        """Upload a folder output to the object store (replacing what was there); a no-op locally."""
        local = self.local_dir(asset, partition, name)
        if self.is_local:
            return str(local)
        remote = self._dir_path(asset, partition, name)
        ours = {p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file()}
        pafs.copy_files(str(local), remote, source_filesystem=pafs.LocalFileSystem(), destination_filesystem=self.fs)
        for stale in set(self._remote_files(remote)) - ours:  # files of an older version, e.g. more shards
            self.fs.delete_file(f"{remote}/{stale}")
        return self.dir_uri(asset, partition, name)

    def fetch_dir(self, asset: str, partition=None, name: str | None = None) -> Path:
        """The local folder of a folder output, refreshed from the object store (files that are
        missing, differ in size or are newer there are downloaded; files gone there are removed)."""
        local = self.local_dir(asset, partition, name)
        if self.is_local:
            return local
        remote = self._dir_path(asset, partition, name)
        local.mkdir(parents=True, exist_ok=True)
        with FileLock(local.parent / f".{local.name}.fetch.lock"):
            theirs = self._remote_files(remote)
            for relative, info in theirs.items():
                target = local / relative
                current = target.stat() if target.exists() else None
                if current is None or current.st_size != info.size or (info.mtime and info.mtime.timestamp() > current.st_mtime):
                    target.parent.mkdir(parents=True, exist_ok=True)
                    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
                    pafs.copy_files(info.path, str(tmp), source_filesystem=self.fs, destination_filesystem=pafs.LocalFileSystem())
                    os.replace(tmp, target)
            for path in [p for p in local.rglob("*") if p.is_file()]:
                if path.relative_to(local).as_posix() not in theirs:
                    path.unlink()
        return local


@contextlib.contextmanager
def atomic_directory(target: Path) -> Iterator[Path]:
    """Yield a temporary sibling folder; on success it replaces `target` in one rename.

    On failure the temporary folder is removed and an existing `target` is left untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.{uuid.uuid4().hex[:8]}.tmp"
    tmp.mkdir()
    try:
        yield tmp
        _swap_in(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _swap_in(tmp: Path, target: Path) -> None:
    """Rename `tmp` to `target`, moving an existing `target` aside first, under a lock: concurrent
    writers (threads or processes) swap one after the other, the last complete folder wins, never
    a mix of two. If the rename fails, the previous `target` is put back."""
    with FileLock(target.parent / f".{target.name}.swap.lock"):
        old = _move_aside(target)
        try:
            os.replace(tmp, target)
        except OSError:
            if old is not None:
                os.replace(old, target)
                old = None
            raise
        finally:
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)


def _move_aside(target: Path) -> Path | None:
    if not target.exists():
        return None
    old = target.parent / f".{target.name}.{uuid.uuid4().hex[:8]}.old"
    os.replace(target, old)
    return old
