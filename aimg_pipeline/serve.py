"""Read-only HTTP on loopback: ``reports/`` and ``published/`` of ``AIMG_HOME`` as files, and
one account's claim as JSON at ``GET /epochs/N/claims/ADDRESS``.

Browsers refuse ``file://`` links from an ``http://`` page (the Dagster UI), and a file
path means nothing when the webserver runs on another machine, so ``aimg dev`` serves these
two folders beside the UI and sets ``AIMG_REPORTS_URL``; the ``epoch_report`` asset then
links to ``$AIMG_REPORTS_URL/reports/epoch-NNNNN.html``. ``aimg serve`` runs the same server
on its own, for a frontend: the claims endpoint answers from the proof shards (the shard's
hash checked once per file), with ``application/json`` bodies, 404 for an epoch or claim
that does not exist and 400 for a malformed epoch or address. Nothing else of the home (the
warehouse, Dagster's storage, the config) is reachable, and nothing can be written.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from aimg_pipeline.lib.eip55 import AddressError
from aimg_pipeline.publish.lookup import ClaimNotFound, ShardError, Verified, find_claim

SERVED = ("reports", "published")
URL_VARIABLE = "AIMG_REPORTS_URL"
_CLAIM = re.compile(r"^/epochs/([^/]+)/claims/([^/]+)$")


class _ReadOnly(SimpleHTTPRequestHandler):
    """GET/HEAD of files under the served folders and of claims; 404 for anything else."""

    verified: Verified  # shards already hashed, shared by the server's threads

    def translate_path(self, path: str) -> str:
        parts = [p for p in unquote(urlsplit(path).path).split("/") if p]
        if not parts or parts[0] not in SERVED or any(p in ("..", ".") for p in parts):
            return str(Path(self.directory) / ".not-served")  # answered 404
        return str(Path(self.directory).joinpath(*parts))

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self._answer(head=False)

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(head=True)

    def _answer(self, head: bool) -> None:
        match = _CLAIM.match(unquote(urlsplit(self.path).path))
        if match is None:
            (super().do_HEAD if head else super().do_GET)()
            return
        status, body = self._claim(*match.groups())
        data = (json.dumps(body, indent=2) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Access-Control-Allow-Origin", "*")  # a wallet's page fetches it
        self.end_headers()
        if not head:
            self.wfile.write(data)

    def _claim(self, epoch_text: str, address: str) -> tuple[HTTPStatus, dict[str, Any]]:
        if not epoch_text.isascii() or not epoch_text.isdigit() or len(epoch_text) > 5:
            return HTTPStatus.BAD_REQUEST, {"error": f"epoch {epoch_text!r} is not a number "
                                                     "from 0 to 99999"}
        try:
            return HTTPStatus.OK, find_claim(Path(self.directory) / "published",
                                             int(epoch_text), address, self.verified)
        except AddressError as exc:
            return HTTPStatus.BAD_REQUEST, {"error": str(exc)}
        except ClaimNotFound as exc:
            return HTTPStatus.NOT_FOUND, {"error": str(exc)}
        except ShardError as exc:  # the operator must look: say so, without the path
            print(f"aimg serve: {exc}", file=sys.stderr, flush=True)
            return HTTPStatus.INTERNAL_SERVER_ERROR, {
                "error": "the published files of this epoch fail their manifest hash"}

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib name)
        pass  # quiet beside the UI's own log


def start(home: Path, port: int, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """Serve ``home``'s reports, published folders and claims on ``host:port`` in a daemon
    thread (``port`` 0: any free port, see ``server.server_port``)."""
    handler = type("Handler", (_ReadOnly,), {"verified": {}})
    server = ThreadingHTTPServer((host, port), partial(handler, directory=str(home)))
    threading.Thread(target=server.serve_forever, name="aimg-serve", daemon=True).start()
    return server


def report_link(path: Path, home: Path) -> str:
    """The URL of a report: under ``AIMG_REPORTS_URL`` when it is served, else a file URI."""
    base = os.environ.get(URL_VARIABLE)
    if base:
        return f"{base.rstrip('/')}/{path.resolve().relative_to(home.resolve()).as_posix()}"
    return path.resolve().as_uri()
