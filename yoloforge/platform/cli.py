"""`yoloforge server ...`: start the platform, migrate its database, and bootstrap accounts and keys.

    yoloforge server [--host 127.0.0.1] [--port 8000] [--home DIR] [--database-url URL] [--storage-url URL] [--demo]
                     [--gpu-catalog FILE] [--ray-address ADDRESS]
    yoloforge server migrate [--home DIR] [--database-url URL]
    yoloforge server create-user NAME [--admin]          # the password is read from stdin
    yoloforge server create-key USER [--scope train] [--name NAME]   # prints the key, once
    yoloforge server top-up USER AMOUNT [--note TEXT]     # adds USD credit (there is no card processor)

Every option can also come from YOLOFORGE_SERVER_<OPTION> (e.g. YOLOFORGE_SERVER_DATABASE_URL).
Errors are one line on stderr with exit code 2.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Sequence
from typing import Any

from yoloforge.platform.settings import ServerSettings

LOCATION_OPTIONS = ("home", "database_url", "storage_url")


class CommandError(Exception):
    """A bad argument or a refused action: printed as one line, exit 2."""


def _location_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--home", help="folder of the embedded database, files and secret (default: user data folder)")
    p.add_argument("--database-url", help="SQLAlchemy URL, e.g. postgresql+psycopg://user:pw@host/db")
    p.add_argument("--storage-url", help="a folder or s3://bucket/prefix")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="yoloforge server", description="The yoloforge platform server.")
    _location_args(parser)
    parser.add_argument("--host", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default 8000)")
    parser.add_argument("--demo", action="store_true", help="create an admin and the public coco8 dataset once")
    parser.add_argument("--gpu-catalog", help="GPU catalog YAML (default: the packaged one: a local 'cpu' type)")
    parser.add_argument("--ray-address", help="Ray cluster for GPU pools with 'executor: ray' (e.g. ray://host:10001)")
    sub = parser.add_subparsers(dest="command")
    migrate = sub.add_parser("migrate", help="apply the database migrations and exit")
    _location_args(migrate)
    user = sub.add_parser("create-user", help="create an account; the password is read from stdin")
    user.add_argument("name")
    user.add_argument("--admin", action="store_true", help="an administrator (sees and changes everything)")
    _location_args(user)
    key = sub.add_parser("create-key", help="create an API key for a user and print it (shown once)")
    key.add_argument("user", help="the account the key belongs to")
    key.add_argument("--scope", choices=("read", "train", "admin"), default="train")
    key.add_argument("--name", default="cli", help="what the key is for (shown in key lists)")
    _location_args(key)
    top = sub.add_parser("top-up", help="add credit (USD) to an account's balance; there is no card processor")
    top.add_argument("user", help="the account to credit")
    top.add_argument("amount", help="USD, e.g. 10 or 12.50")
    top.add_argument("--note", default="top-up from the command line", help="shown in the ledger and the report")
    _location_args(top)
    return parser


def settings_from(args: argparse.Namespace) -> ServerSettings:
    """Settings from the given options over YOLOFORGE_SERVER_* over the defaults."""
    from pydantic import ValidationError

    names = (*LOCATION_OPTIONS, "host", "port", "gpu_catalog", "ray_address")
    given = {k: getattr(args, k) for k in names if getattr(args, k, None) is not None}
    try:
        return ServerSettings(**given)
    except ValidationError as e:
        first = e.errors()[0]
        raise CommandError(f"invalid setting {'.'.join(map(str, first['loc']))}: {first['msg']}") from None


def read_password(name: str) -> str:
    """The new password: typed twice at a terminal, else the first line of stdin."""
    if sys.stdin.isatty():
        first = getpass.getpass(f"Password for {name}: ")
        if getpass.getpass("Repeat it: ") != first:
            raise CommandError("the two passwords differ")
        return first
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        raise CommandError('no password on stdin: pipe it in, e.g. `echo "$PW" | yoloforge server create-user NAME`')
    return line


def _state(settings: ServerSettings) -> Any:
    from yoloforge.platform.db.migrate import upgrade
    from yoloforge.platform.state import PlatformState

    state = PlatformState.build(settings)
    upgrade(state.db.engine)
    return state


def cmd_migrate(settings: ServerSettings) -> None:
    from yoloforge.platform.db.migrate import current_revision, head_revision, upgrade
    from yoloforge.platform.db.session import Database

    db = Database(settings.resolved_database_url)
    before = upgrade(db.engine)
    after = current_revision(db.engine)
    print(f"database at revision {after} (head {head_revision()}; was {before or 'empty'})")
    db.dispose()


def cmd_create_user(settings: ServerSettings, name: str, admin: bool) -> None:
    from yoloforge.platform.services import accounts
    from yoloforge.platform.services.billing_rules import BillingPolicy

    password = read_password(name)
    state = _state(settings)
    try:
        with state.db.sessions() as session:
            welcome = BillingPolicy.from_settings(settings).welcome_cents
            user = accounts.create_user(session, name, password, is_admin=admin, welcome_cents=welcome)
            print(f"created {'admin ' if user.is_admin else ''}user {user.name}")
    finally:
        state.close()


def cmd_create_key(settings: ServerSettings, user_name: str, scope: str, key_name: str) -> None:
    from yoloforge.platform.services import accounts, keys

    state = _state(settings)
    try:
        with state.db.sessions() as session:
            user = accounts.get_user(session, user_name)
            _, key = keys.create_key(session, user, key_name, scope)
    finally:
        state.close()
    print(key)


def cmd_top_up(settings: ServerSettings, user_name: str, amount: str, note: str) -> None:
    from yoloforge.platform.services import accounts, billing_hooks, ledger
    from yoloforge.platform.services.billing_rules import BillingPolicy

    billing_hooks.register(BillingPolicy.from_settings(settings))

    state = _state(settings)
    try:
        with state.db.sessions() as session:
            user = accounts.get_user(session, user_name)
            entry = ledger.add_credit(session, user, "top_up", amount, note=note)
            resumed = billing_hooks.after_top_up(session, user.id)
            print(f"added {ledger.format_usd(entry.amount_cents)} to {user.name}: balance "
                  f"{ledger.format_usd(entry.balance_after_cents)} (ledger entry {entry.id})")  # fmt: skip
            if resumed:
                print(f"resumed paused jobs {', '.join(map(str, resumed))} (auto-resume is on)")
    finally:
        state.close()


def check_port(host: str, port: int) -> None:
    """One line instead of uvicorn's error when `host:port` cannot be bound."""
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            raise CommandError(f"cannot listen on {host}:{port} ({e.strerror}): pass another --port") from None


def cmd_serve(settings: ServerSettings, demo: bool) -> None:
    import uvicorn

    from yoloforge.platform.app import create_app
    from yoloforge.platform.bootstrap import ensure_demo

    check_port(settings.host, settings.port)
    from yoloforge.platform.gpus import load_catalog

    load_catalog(settings.gpu_catalog)  # a bad catalog is one line, before anything starts
    app = create_app(settings)
    url = f"http://{settings.host}:{settings.port}"
    if demo:
        for line in ensure_demo(app.state.platform):
            print(line, flush=True)
    print(f"yoloforge platform: {url}  (API docs: {url}/docs; data in {settings.home})", flush=True)
    _freeze_startup_objects()
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info")


def _freeze_startup_objects() -> None:
    """Keep what start-up made (modules, the app, the ORM's mappers: ~160,000 objects) out of the garbage collector's
    full passes, which otherwise stop every request for 100-200 ms every few seconds under load (measured with 200
    streaming runs; see `gc.freeze` in the Python docs)."""
    import gc

    gc.collect()
    gc.freeze()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `yoloforge server`; returns the exit code."""
    from yoloforge.platform.gpus import CatalogError
    from yoloforge.platform.services.errors import ServiceError

    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        settings = settings_from(args)
        if args.command == "migrate":
            cmd_migrate(settings)
        elif args.command == "create-user":
            cmd_create_user(settings, args.name, args.admin)
        elif args.command == "create-key":
            cmd_create_key(settings, args.user, args.scope, args.name)
        elif args.command == "top-up":
            cmd_top_up(settings, args.user, args.amount, args.note)
        else:
            cmd_serve(settings, args.demo)
    except (CommandError, ServiceError, CatalogError) as e:
        print(f"yoloforge server: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0
