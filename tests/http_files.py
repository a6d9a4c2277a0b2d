"""A real HTTP file server on 127.0.0.1 for tests of code that downloads (weights by name, URL sources)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote


@dataclass
class FileServer:
    """Serves `files` (URL name -> file on disk) at `base`; `requests` lists the names asked for, in order."""

    files: dict[str, Path]
    base: str = ""
    requests: list[str] = field(default_factory=list)


@contextmanager
def serve(files: dict[str, Path]) -> Iterator[FileServer]:
    """Serve the files until the block ends (404 for anything else); plain 200 answers, no Range."""
    state = FileServer(dict(files))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            name = unquote(self.path.lstrip("/"))
            state.requests.append(name)
            path = state.files.get(name)
            if path is None:
                self.send_error(404)
                return
            data = path.read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:  # keep test output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
