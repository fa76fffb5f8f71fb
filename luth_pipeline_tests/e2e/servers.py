"""Real servers on loopback for the e2e tests: PostgreSQL, an S3-compatible server (moto),
the Dagster code server, webserver and daemon.

Each server is a child process of the test on a free 127.0.0.1 port, stopped (by its own pid)
when the test ends; its output goes to a log file under the test's tmp dir, which assertion
messages point at.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(log: Path | None) -> str:
    if log is None or not log.exists():
        return ""
    return "\n--- " + str(log) + " (tail) ---\n" + log.read_text(errors="replace")[-4000:]


def wait_for(predicate, timeout: float, what: str, interval: float = 0.25, log: Path | None = None, process=None):
    """Poll `predicate` until truthy; fail early (with the log's tail) if `process` dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and not process.alive:
            raise RuntimeError(f"{process.args[0]} exited ({process.proc.returncode}) while waiting for {what}{_tail(process.log)}")
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}{_tail(log or (process.log if process else None))}")


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


class Process:
    """A child process in its own process group, logging to a file."""

    def __init__(self, args: list[str], log: Path, env: dict[str, str] | None = None, cwd: Path = REPO):
        self.args, self.log = args, log
        self._log_file = open(log, "ab")
        self.proc = subprocess.Popen(
            args, cwd=cwd, env=env, stdout=self._log_file, stderr=subprocess.STDOUT, start_new_session=True
        )

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        """Signal the process group this test started (by its id), escalating to SIGKILL."""
        if self.alive:
            try:
                os.killpg(self.proc.pid, sig)
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
            except ProcessLookupError:
                pass
        self._log_file.close()


# --- PostgreSQL ---------------------------------------------------------------------------


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name)]
    if not found or not found[-1]:
        raise RuntimeError(f"PostgreSQL's `{name}` is not installed: run `make system-deps` (Debian package postgresql)")
    return found[-1]


class PostgresServer:
    """A throwaway PostgreSQL cluster (initdb into a tmp dir) listening on 127.0.0.1 only.

    PostgreSQL refuses to run as root, so as root the cluster is owned by and run as the
    `postgres` system user the Debian package creates. Password auth (scram) is on, so the
    password really travels through the instance config's env var.
    """

    user = "luth"
    db = "dagster"

    def __init__(self, password: str):
        # Its own dir directly under /tmp: pytest's tmp dirs are private to root (0700) and the
        # `postgres` user could not enter them.
        self.root, self.password, self.port = Path(tempfile.mkdtemp(prefix="luth-pg-")), password, free_port()
        self.data = self.root / "pgdata"
        self.log = self.root / "postgres.log"
        self._as_root = os.geteuid() == 0

    def _run(self, args: list[str]) -> None:
        if self._as_root:
            args = ["runuser", "-u", "postgres", "--", *args]
        done = subprocess.run(args, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")

    def start(self) -> "PostgresServer":
        pwfile = self.root / "pw"
        pwfile.write_text(self.password)
        if self._as_root:
            shutil.chown(self.root, "postgres", "postgres")
            shutil.chown(pwfile, "postgres", "postgres")
        self._run([_pg_bin("initdb"), "-D", str(self.data), "-U", self.user, "--pwfile", str(pwfile),
                   "--auth", "scram-sha-256", "-E", "UTF8", "--no-sync"])
        pwfile.unlink()
        options = f"-h 127.0.0.1 -p {self.port} -k {self.root} -c fsync=off -c full_page_writes=off"
        self._run([_pg_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start"])
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user=self.user, password=self.password, dbname="postgres")
        conn.autocommit = True
        conn.cursor().execute(f"CREATE DATABASE {self.db}")
        conn.close()
        return self

    def env(self) -> dict[str, str]:
        return {"DAGSTER_PG_HOST": "127.0.0.1", "DAGSTER_PG_PORT": str(self.port), "DAGSTER_PG_USER": self.user,
                "DAGSTER_PG_PASSWORD": self.password, "DAGSTER_PG_DB": self.db}

    def stop(self) -> None:
        if self.data.exists():
            try:
                self._run([_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"])
            except RuntimeError:
                pass
        shutil.rmtree(self.root, ignore_errors=True)


# --- S3 (moto server mode) ----------------------------------------------------------------


class S3Server:
    """moto's S3 server on loopback; clients find it through AWS_ENDPOINT_URL like any S3."""

    def __init__(self, root: Path, bucket: str = "luth-e2e"):
        self.port, self.bucket = free_port(), bucket
        self.log = root / "moto.log"
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._process: Process | None = None

    def env(self) -> dict[str, str]:
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": "e2e-access", "AWS_SECRET_ACCESS_KEY": "e2e-secret",
                "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1", "LUTH_S3_BUCKET": self.bucket}

    def start(self) -> "S3Server":
        self._process = Process([str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(self.port)], self.log)
        wait_for(lambda: port_open(self.port), 60, "moto S3 server", log=self.log)
        self.client().create_bucket(Bucket=self.bucket)
        return self

    def client(self):
        import boto3

        env = self.env()
        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"], region_name="us-east-1")

    def keys(self, prefix: str = "") -> list[str]:
        paginator = self.client().get_paginator("list_objects_v2")
        return [o["Key"] for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix) for o in page.get("Contents", [])]

    def stop(self) -> None:
        if self._process:
            self._process.stop()


# --- Dagster ------------------------------------------------------------------------------


def dagster_env(dagster_home: Path, profile: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "PYTEST_"))}
    env.update({"DAGSTER_HOME": str(dagster_home), "LUTH_PROFILE": str(profile), "HF_HUB_OFFLINE": "1",
                "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1",
                "DAGSTER_DISABLE_TELEMETRY": "1", "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}"})
    env.update(extra or {})
    return env


def graphql(port: int, query: str, variables: dict | None = None, timeout: float = 60) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body = json.loads(response.read())
    if body.get("errors"):
        raise RuntimeError(f"GraphQL errors: {body['errors']}")
    return body["data"]


def webserver_ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def location_loaded(port: int) -> bool:
    """The webserver has loaded the code location (not just started)."""
    if not webserver_ready(port):
        return False
    data = graphql(port, "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus "
                         "locationOrLoadError { __typename ... on PythonError { message } } } } } }")
    entries = data["workspaceOrError"]["locationEntries"]
    if not entries or any(e["loadStatus"] != "LOADED" for e in entries):
        return False
    errors = [e["locationOrLoadError"] for e in entries if e["locationOrLoadError"]["__typename"] == "PythonError"]
    if errors:
        raise RuntimeError(f"code location failed to load: {errors[0]['message']}")
    return True


LAUNCH_RUN = """
mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on PythonError { message stack }
    ... on InvalidSubsetError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}"""


def launch_assets(port: int, location: str, asset_keys: list[str], partition: str | None = None, tags: dict | None = None) -> str:
    """Launch a run of these assets through the webserver's GraphQL API (what the UI does)."""
    run_tags = dict(tags or {})
    if partition is not None:
        run_tags["dagster/partition"] = partition
    params = {
        "selector": {"repositoryLocationName": location, "repositoryName": "__repository__", "jobName": "__ASSET_JOB",
                     "assetSelection": [{"path": k.split("/")} for k in asset_keys], "assetCheckSelection": []},
        "mode": "default",
        "runConfigData": {},
        "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in run_tags.items()]},
    }
    result = graphql(port, LAUNCH_RUN, {"params": params})["launchRun"]
    if result["__typename"] != "LaunchRunSuccess":
        raise RuntimeError(f"launchRun failed: {result}")
    return result["run"]["runId"]
