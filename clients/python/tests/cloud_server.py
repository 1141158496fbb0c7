"""The real Engine Cloud server on loopback, as its own process (like test/support/test-server.ts)."""

from __future__ import annotations

import base64
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO_ROOT = Path(__file__).resolve().parents[3]
LISTENING = re.compile(r'"msg":"listening","url":"([^"]+)"')
START_TIMEOUT_SECONDS = 60


class TestDatabase:
    """A fresh database: an empty PGlite directory, or a new PostgreSQL database when ENGINE_TEST_POSTGRES_URL
    is set (created and dropped with psql)."""

    __test__ = False

    def __init__(self) -> None:
        self.data_dir = tempfile.mkdtemp(prefix="engine-cloud-py-")
        self._admin_url = os.environ.get("ENGINE_TEST_POSTGRES_URL") or None
        self.url: str | None = None
        if self._admin_url:
            self._name = f"ec_py_{secrets.token_hex(6)}"
            self._psql(f"CREATE DATABASE {self._name}")
            parts = urlsplit(self._admin_url)
            self.url = urlunsplit(parts._replace(path=f"/{self._name}"))

    def _psql(self, sql: str) -> None:
        subprocess.run(["psql", self._admin_url, "-qAtc", sql], check=True, capture_output=True)

    def drop(self) -> None:
        shutil.rmtree(self.data_dir, ignore_errors=True)
        if self._admin_url:
            self._psql(f"DROP DATABASE IF EXISTS {self._name} WITH (FORCE)")


class CloudServer:
    """`npx tsx --conditions=source packages/server/src/main.ts` on a free loopback port."""

    def __init__(self, database: TestDatabase, env: dict[str, str] | None = None) -> None:
        self.database = database
        self.admin_token = secrets.token_hex(32)
        self.master_key = base64.b64encode(secrets.token_bytes(32)).decode()
        self.extra_env = env or {}
        self.url = ""
        self.output: list[str] = []
        self._process: subprocess.Popen[str] | None = None

    def start(self, listen: str = "127.0.0.1:0") -> CloudServer:
        env = {
            **os.environ,
            "ENGINE_CLOUD_TOKEN": self.admin_token,
            "ENGINE_CLOUD_LISTEN": listen,
            "ENGINE_CLOUD_DATA_DIR": self.database.data_dir,
            "ENGINE_CLOUD_MASTER_KEY": self.master_key,
            "ENGINE_CLOUD_SHUTDOWN_GRACE_MS": "1000",
            "ENGINE_CLOUD_SYNC_HEARTBEAT_MS": "1000",
            # The loopback authorization server is a provider of the tests' own (the hub refuses loopback otherwise).
            "ENGINE_CLOUD_HUB_ALLOW_LOOPBACK": "1",
            "ENGINE_CLOUD_PRESENCE_FLUSH_MS": "100",
            **({"DATABASE_URL": self.database.url} if self.database.url else {}),
            **self.extra_env,
        }
        for name in ("ENGINE_OAUTH_API_KEY", "ENGINE_CLOUD_URL", "ENGINE_OAUTH_API_URL", "ENGINE_CLOUD_PROJECT"):
            env.pop(name, None)
        self.output = []
        self._process = subprocess.Popen(
            ["npx", "tsx", "--conditions=source", "packages/server/src/main.ts"],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            # Its own process group: npx runs tsx runs node, and stop() must reach the server itself.
            start_new_session=True,
        )
        found = threading.Event()

        def read() -> None:
            assert self._process is not None and self._process.stdout is not None
            for line in self._process.stdout:
                self.output.append(line)
                match = LISTENING.search(line)
                if match and not found.is_set():
                    self.url = match.group(1)
                    found.set()

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not found.wait(0.1):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the server did not start:\n" + "".join(self.output))
        return self

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or 0

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait()
        self._process = None
