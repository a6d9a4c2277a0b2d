"""Platform credentials: `yoloforge login KEY [--url URL]` checks a key against the server and keeps it;
`yoloforge logout` forgets it.

The key and the server's URL live in the user settings (`api_key`, `platform_url`; the settings file is
written with mode 0600). YOLOFORGE_API_KEY and YOLOFORGE_PLATFORM_URL win over the file. The server
defaults to http://127.0.0.1:8000.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass

DEFAULT_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class PlatformCredentials:
    url: str
    key: str


def platform_credentials() -> PlatformCredentials | None:
    """The server and key to stream to (environment > settings file), or None when no key is known."""
    from yoloforge.cfg.user import load_user_settings

    settings = load_user_settings()
    key = settings.api_key.get_secret_value().strip()
    if not key:
        return None
    return PlatformCredentials((settings.platform_url or DEFAULT_URL).rstrip("/"), key)


def check_key(url: str, key: str, timeout: float = 15.0) -> str:
    """The account name `key` signs in as on the server at `url`; ValueError with the reason otherwise."""
    import httpx

    try:
        r = httpx.get(f"{url}/api/v1/users/me", headers={"Authorization": f"Bearer {key}"}, timeout=timeout)
    except httpx.HTTPError as e:
        raise ValueError(f"cannot reach the platform at {url} ({type(e).__name__}: {e}); check --url") from None
    if r.status_code == 401:
        raise ValueError(f"the platform at {url} refused the key: {_detail(r)}")
    if r.status_code != 200:
        raise ValueError(f"the platform at {url} answered HTTP {r.status_code}: {_detail(r)}")
    try:
        return str(r.json()["name"])
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"{url} answered, but not as a yoloforge platform does; check --url") from None


def _detail(r: object) -> str:
    try:
        return str(r.json().get("detail"))  # type: ignore[attr-defined]
    except Exception:
        return r.text[:200]  # type: ignore[attr-defined]


def login_main(argv: Sequence[str]) -> int:
    """`yoloforge login KEY [--url URL]`: exit 0 when stored, 2 when the key or URL is refused."""
    from yoloforge.cfg.user import load_user_settings, save_user_settings, settings_path

    parser = argparse.ArgumentParser(prog="yoloforge login", description="Check a platform API key and keep it.")
    parser.add_argument("key", help="an API key (yf_...) made on the platform")
    parser.add_argument("--url", help=f"the platform's address (default: the stored one, else {DEFAULT_URL})")
    args = parser.parse_args(list(argv))
    url = (args.url or load_user_settings().platform_url or DEFAULT_URL).rstrip("/")
    try:
        user = check_key(url, args.key.strip())
    except ValueError as e:
        print(f"yoloforge login: error: {e}", file=sys.stderr)
        return 2
    save_user_settings({"api_key": args.key.strip(), "platform_url": url})
    print(f"Signed in to {url} as {user}; the key is kept in {settings_path()} (readable by you only).")
    return 0


def logout_main(argv: Sequence[str]) -> int:
    """`yoloforge logout`: forget the stored key (the URL stays)."""
    from yoloforge.cfg.user import reset_user_settings, settings_path

    if argv:
        print("yoloforge logout: error: takes no arguments", file=sys.stderr)
        return 2
    reset_user_settings(["api_key"])
    print(f"Signed out: the API key was removed from {settings_path()}.")
    return 0
