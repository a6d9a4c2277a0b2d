"""Serve a stored object over HTTP: streamed in chunks, with its SHA-256, and byte ranges for resuming.

Headers: `X-Checksum-SHA256` (hex) and a strong `ETag` of the same digest, `Accept-Ranges: bytes`,
`Content-Disposition` with the file name. A single `Range: bytes=a-b` answers 206 (the library's
download resumes with it); a range past the end answers 416 with `Content-Range: bytes */size`.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.responses import StreamingResponse

from yoloforge.platform.services.storage import Storage

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """(start, end exclusive) of a single satisfiable range; None to send everything; 'bad' for 416."""
    if not header:
        return None
    m = _RANGE.match(header.strip())
    if m is None or (not m.group(1) and not m.group(2)):
        return None  # multiple or malformed ranges: RFC 9110 lets a server ignore Range
    first, last = m.group(1), m.group(2)
    if not first:  # suffix: the last N bytes
        n = int(last)
        return (max(size - n, 0), size) if n > 0 and size > 0 else "bad"
    start = int(first)
    end = min(int(last) + 1, size) if last else size
    if start >= size or end <= start:
        return "bad"
    return start, end


def object_response(
    request: Request, storage: Storage, key: str, *, size: int, sha256: str, filename: str, media_type: str
) -> Response:
    """The object `key` (of known `size` and `sha256`) as a streamed download honouring Range."""
    headers = {
        "X-Checksum-SHA256": sha256,
        "ETag": f'"{sha256}"',
        "Accept-Ranges": "bytes",
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}",
    }
    span = _range(request.headers.get("range"), size)
    if span == "bad":
        return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{size}"})
    if span is None:
        headers["Content-Length"] = str(size)
        return StreamingResponse(storage.stream(key), media_type=media_type, headers=headers)
    start, end = span  # type: ignore[misc]
    headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    headers["Content-Length"] = str(end - start)
    return StreamingResponse(storage.stream(key, start, end), status_code=206, media_type=media_type, headers=headers)


DOWNLOAD_RESPONSES = {
    200: {
        "description": "The file",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    },
    206: {
        "description": "Part of the file (Range)",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    },
    416: {"description": "Range not satisfiable"},
}
