"""The TypeScript suites' loopback OAuth authorization server (oidc-provider), driven from Python through
test/support/loopback-authorization-process.ts."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from typing import Any

from cloud_server import REPO_ROOT


class LoopbackAuthorization:
    def __init__(self, redirect_uri: str) -> None:
        self._process = subprocess.Popen(
            ["npx", "tsx", "--conditions=source", "test/support/loopback-authorization-process.ts", redirect_uri],
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        hello = self._read()
        self.issuer: str = hello["issuer"]
        self.client_id: str = hello["clientId"]
        self.client_secret: str = hello["clientSecret"]

    def _read(self) -> dict[str, Any]:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError("the loopback authorization server exited")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return answer

    def _ask(self, command: dict[str, Any]) -> dict[str, Any]:
        assert self._process.stdin is not None
        self._process.stdin.write(json.dumps(command) + "\n")
        self._process.stdin.flush()
        return self._read()

    def connect(self, authorization_url: str, login: str) -> int:
        """Plays the browser through login and consent, then requests the callback; returns its HTTP status."""
        callback = self._ask({"authorize": authorization_url, "login": login})["callback"]
        try:
            with urllib.request.urlopen(callback, timeout=30) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return error.code

    def refuse_next_token_calls(self, count: int) -> None:
        """The next `count` token calls answer invalid_grant, as a provider does for a revoked grant."""
        fault = {"kind": "status", "status": 400, "body": {"error": "invalid_grant", "error_description": "revoked"}}
        for _ in range(count):
            self._ask({"fault": fault})

    def token_calls(self) -> int:
        return int(self._ask({"tokenCalls": True})["tokenCalls"])

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
