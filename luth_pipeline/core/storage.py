"""Where datasets and checkpoints live: `<root>/<asset>/<partition>/<table>.parquet`.

The root is a local folder or an object-store URI (s3://bucket/prefix); pyarrow's filesystem
layer serves both. Writes are atomic: a reader never sees a half-written table (local files are
written to a temporary name then renamed; an S3 PUT is atomic per object).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
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


class DatasetStore:
    def __init__(self, root: str):
        self.root = root.rstrip("/")
        self.fs, self._base = pafs.FileSystem.from_uri(self.root if "://" in self.root else os.path.abspath(self.root))
        self.is_local = isinstance(self.fs, pafs.LocalFileSystem)

    def uri(self, asset: str, partition: str | dict[str, str] | None = None, table: str = "data") -> str:
        return f"{self.root}/{asset}/{partition_dirname(partition)}/{table}.parquet"

    def _path(self, asset: str, partition, table: str) -> str:
        return f"{self._base}/{asset}/{partition_dirname(partition)}/{table}.parquet"

    def exists(self, asset: str, partition=None, table: str = "data") -> bool:
        return self.fs.get_file_info(self._path(asset, partition, table)).type == pafs.FileType.File

    def write(self, df: pl.DataFrame, asset: str, partition=None, table: str = "data") -> str:
        path = self._path(asset, partition, table)
        parent = path.rsplit("/", 1)[0]
        self.fs.create_dir(parent, recursive=True)
        if self.is_local:
            fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{table}.", suffix=".tmp")
            os.close(fd)
            try:
                df.write_parquet(tmp)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        else:
            with self.fs.open_output_stream(path) as sink:
                pq.write_table(df.to_arrow(), sink)
        return self.uri(asset, partition, table)

    def read(self, asset: str, partition=None, table: str = "data") -> pl.DataFrame:
        path = self._path(asset, partition, table)
        if not self.exists(asset, partition, table):
            where = f" partition {partition!r}" if partition is not None else ""
            raise MissingInputError(
                f"{asset}{where} has no `{table}` table at {self.uri(asset, partition, table)}: "
                f"materialize it first (e.g. `dagster asset materialize -m luth_pipeline.definitions --select {asset}`)"
            )
        with self.fs.open_input_file(path) as source:
            return pl.from_arrow(pq.read_table(source))

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

    def local_dir(self, asset: str, partition=None) -> Path:
        """A local folder for directory-shaped outputs (checkpoints, reports)."""
        if not self.is_local:
            raise ValueError(f"{self.root} is not a local folder; directory outputs need a local data root")
        return Path(self._base) / asset / partition_dirname(partition)


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


def _swap_in(tmp: Path, target: Path, attempts: int = 5) -> None:
    """Rename `tmp` to `target`, moving an existing `target` aside first. Another writer may put
    a `target` back between the two renames (the rename then fails with ENOTEMPTY): move that one
    aside too and retry; the last complete folder wins, never a mix of two. On any other error
    the previous `target` is put back."""
    for _ in range(attempts):
        old = _move_aside(target)
        try:
            os.replace(tmp, target)
        except OSError as exc:
            if old is not None and not target.exists():
                os.replace(old, target)
                old = None
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                continue
            raise
        finally:
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        return
    raise RuntimeError(f"could not move {tmp} into place at {target}: other writers kept replacing it")


def _move_aside(target: Path) -> Path | None:
    if not target.exists():
        return None
    old = target.parent / f".{target.name}.{uuid.uuid4().hex[:8]}.old"
    try:
        os.replace(target, old)
    except FileNotFoundError:  # another writer moved it aside first
        return None
    return old
