"""Signed, expiring download links: a URL that works without an Authorization header (like an S3
presigned URL) for the library's resumable download, browsers and download managers.

The token (itsdangerous, HMAC-SHA1 over the server's secret) binds the user, the object kind and its
row id; the server still applies the visibility rules when the link is used, so a dataset made
private stops being downloadable by others at once.
"""

from __future__ import annotations

from itsdangerous import BadSignature, URLSafeTimedSerializer

from yoloforge.platform.services.errors import Unauthorized

LINK_SECONDS = 3600


class LinkSigner:
    """Makes and checks download tokens for one server secret."""

    def __init__(self, secret: str) -> None:
        self._s = URLSafeTimedSerializer(secret, salt="yoloforge-download")

    def sign(self, user_id: int, kind: str, row_id: int) -> str:
        return self._s.dumps([user_id, kind, row_id])

    def open(self, token: str, kind: str, max_age: int = LINK_SECONDS) -> tuple[int, int]:
        """(user id, row id) of a genuine, unexpired link for `kind`; Unauthorized otherwise.

        The caller loads the user, applies the visibility rules as that user, and compares the row id
        with the object asked for, in that order (so a forged link learns nothing about what exists).
        """
        try:
            user_id, k, row_id = self._s.loads(token, max_age=max_age)
        except (BadSignature, ValueError, TypeError) as e:
            raise Unauthorized("download link invalid or expired: ask the API for a new one") from e
        if k != kind:
            raise Unauthorized("download link is for another kind of file")
        return int(user_id), int(row_id)
