"""A minimal Language Server Protocol client over stdio, enough to drive yaml-language-server.

It speaks JSON-RPC with ``Content-Length`` framing, answers the server's own requests
(``workspace/configuration`` with the ``yaml`` settings, anything else with null), and collects
``textDocument/publishDiagnostics`` per document.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SERVER = HERE / "node_modules" / "yaml-language-server" / "bin" / "yaml-language-server"


def install_hint() -> str:
    return f"cd {HERE} && npm install --no-audit --no-fund (or run .ci/run)"


def server_command() -> list[str] | None:
    """``node .../yaml-language-server --stdio`` when installed next to this file, else None."""
    node = shutil.which("node")
    if node is None or not SERVER.is_file():
        return None
    return [node, str(SERVER), "--stdio"]


class LspClient:
    def __init__(self, command: list[str], settings: dict[str, Any], root: Path) -> None:
        self.settings = settings
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     env={**os.environ, "NODE_NO_WARNINGS": "1"})
        self._id = 0
        self._responses: dict[int, "queue.Queue[Any]"] = {}
        self._lock = threading.Lock()
        self.diagnostics: dict[str, list[dict[str, Any]]] = {}
        self._diag_event = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.request("initialize", {
            "processId": os.getpid(),
            "rootUri": root.as_uri(),
            "capabilities": {
                "textDocument": {
                    "hover": {"contentFormat": ["markdown", "plaintext"]},
                    "completion": {"completionItem": {"snippetSupport": True, "documentationFormat": ["markdown"]}},
                    "publishDiagnostics": {},
                },
                "workspace": {"configuration": True, "didChangeConfiguration": {"dynamicRegistration": False}},
            },
        }, timeout=60)
        self.notify("initialized", {})
        self.notify("workspace/didChangeConfiguration", {"settings": settings})

    # -- framing -------------------------------------------------------------------------------
    def _send(self, message: dict[str, Any]) -> None:
        body = json.dumps(message).encode("utf-8")
        assert self.proc.stdin is not None
        with self._lock:
            self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
            self.proc.stdin.flush()

    def _read(self) -> None:
        stream = self.proc.stdout
        assert stream is not None
        while True:
            length = None
            while True:
                line = stream.readline()
                if not line:
                    return
                line = line.strip()
                if not line:
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            if length is None:
                continue
            message = json.loads(stream.read(length))
            self._dispatch(message)

    def _dispatch(self, message: dict[str, Any]) -> None:
        if "method" in message and "id" in message:  # a request from the server
            result: Any = None
            if message["method"] == "workspace/configuration":
                result = [self.settings.get(item.get("section", ""), self.settings) if item.get("section") else self.settings
                          for item in message["params"]["items"]]
            self._send({"jsonrpc": "2.0", "id": message["id"], "result": result})
        elif "method" in message:
            if message["method"] == "textDocument/publishDiagnostics":
                with self._diag_event:
                    self.diagnostics[message["params"]["uri"]] = message["params"]["diagnostics"]
                    self._diag_event.notify_all()
        elif "id" in message:
            q = self._responses.get(message["id"])
            if q is not None:
                q.put(message)

    # -- API -----------------------------------------------------------------------------------
    def request(self, method: str, params: Any, timeout: float = 30) -> Any:
        self._id += 1
        rid = self._id
        q: "queue.Queue[Any]" = queue.Queue()
        self._responses[rid] = q
        self._send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
        message = q.get(timeout=timeout)
        if "error" in message:
            raise RuntimeError(f"{method}: {message['error']}")
        return message.get("result")

    def notify(self, method: str, params: Any) -> None:
        self._send({"jsonrpc": "2.0", "method": method, "params": params})

    def open(self, uri: str, text: str) -> None:
        with self._diag_event:
            self.diagnostics.pop(uri, None)
        self.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "yaml", "version": 1, "text": text}})

    def wait_diagnostics(self, uri: str, timeout: float = 60) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        with self._diag_event:
            while uri not in self.diagnostics:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no diagnostics for {uri} in {timeout}s")
                self._diag_event.wait(left)
            return self.diagnostics[uri]

    def hover(self, uri: str, line: int, character: int) -> str:
        result = self.request("textDocument/hover", {"textDocument": {"uri": uri}, "position": {"line": line, "character": character}})
        if not result:
            return ""
        contents = result["contents"]
        return contents["value"] if isinstance(contents, dict) else str(contents)

    def completion(self, uri: str, line: int, character: int) -> list[str]:
        result = self.request("textDocument/completion", {"textDocument": {"uri": uri}, "position": {"line": line, "character": character}})
        items = result.get("items", []) if isinstance(result, dict) else (result or [])
        return [item["label"] for item in items]

    def close(self) -> None:
        try:
            self.request("shutdown", None, timeout=10)
            self.notify("exit", None)
            self.proc.wait(timeout=10)
        except Exception:
            self.proc.kill()
            self.proc.wait()
