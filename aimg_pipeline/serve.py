"""``reports/`` and ``published/`` of ``AIMG_HOME``, served read-only over HTTP on loopback.

Browsers refuse ``file://`` links from an ``http://`` page (the Dagster UI), and a file
path means nothing when the webserver runs on another machine, so ``aimg dev`` serves these
two folders beside the UI and sets ``AIMG_REPORTS_URL``; the ``epoch_report`` asset then
links to ``$AIMG_REPORTS_URL/reports/epoch-NNNNN.html``. Nothing else of the home (the
warehouse, Dagster's storage, the config) is reachable, and nothing can be written.
"""

from __future__ import annotations

import os
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

SERVED = ("reports", "published")
URL_VARIABLE = "AIMG_REPORTS_URL"


class _ReadOnly(SimpleHTTPRequestHandler):
    """GET/HEAD of files under the served folders; 404 for anything else."""

    def translate_path(self, path: str) -> str:
        parts = [p for p in unquote(urlsplit(path).path).split("/") if p]
        if not parts or parts[0] not in SERVED or any(p in ("..", ".") for p in parts):
            return str(Path(self.directory) / ".not-served")  # answered 404
        return str(Path(self.directory).joinpath(*parts))

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib name)
        pass  # quiet beside the UI's own log


def start(home: Path, port: int, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """Serve ``home``'s reports and published folders on ``host:port`` in a daemon thread."""
    server = ThreadingHTTPServer((host, port), partial(_ReadOnly, directory=str(home)))
    threading.Thread(target=server.serve_forever, name="aimg-reports", daemon=True).start()
    return server


def report_link(path: Path, home: Path) -> str:
    """The URL of a report: under ``AIMG_REPORTS_URL`` when it is served, else a file URI."""
    base = os.environ.get(URL_VARIABLE)
    if base:
        return f"{base.rstrip('/')}/{path.resolve().relative_to(home.resolve()).as_posix()}"
    return path.resolve().as_uri()


def main() -> None:
    """``python -m aimg_pipeline.serve PORT``: serve ``AIMG_HOME`` until interrupted."""
    import sys

    from aimg_pipeline.defs.resources import AimgSettings

    server = start(AimgSettings().home_path, int(sys.argv[1]))
    print(f"serving reports/ and published/ on http://127.0.0.1:{server.server_port}/",
          flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
