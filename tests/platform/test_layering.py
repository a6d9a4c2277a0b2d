"""The library never imports the platform; the platform builds nothing at import; `yoloforge server` without
the platform extra says how to install it."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import yoloforge

PACKAGE = Path(yoloforge.__file__).parent
MODULE_PATH = re.compile(r"^yoloforge\.platform[\w.]*(:\w+)?$")


def test_no_library_module_imports_the_platform() -> None:
    offenders = []
    for py in PACKAGE.rglob("*.py"):
        if py.is_relative_to(PACKAGE / "platform"):
            continue
        for node in ast.walk(ast.parse(py.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{py.relative_to(PACKAGE)}: {n}" for n in names if n.startswith("yoloforge.platform")]
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and MODULE_PATH.match(node.value):
                # a module path for importlib: only the CLI's command table may name the platform (lazily)
                offenders += [] if py == PACKAGE / "cli.py" else [f"{py.relative_to(PACKAGE)}: '{node.value}'"]
    assert offenders == []


def _python(code: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data"),
           "YOLOFORGE_CONFIG_DIR": str(tmp_path / "config")}  # fmt: skip
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)


def test_library_paths_leave_the_platform_unloaded(tmp_path: Path) -> None:
    code = (
        "import sys, yoloforge, yoloforge.cli, yoloforge.data.dataset_yaml, yoloforge.remote.datasets\n"
        "from yoloforge.api import YOLO\n"
        "print(sorted(m for m in sys.modules if m.startswith('yoloforge.platform')))"
    )
    r = _python(code, tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stderr


def test_platform_import_has_no_side_effects(tmp_path: Path) -> None:
    code = (
        "import pkgutil, importlib, yoloforge.platform as p\n"
        "mods = [m.name for m in pkgutil.walk_packages(p.__path__, 'yoloforge.platform.')\n"
        "        if 'migrations' not in m.name]\n"
        "[importlib.import_module(m) for m in mods]\n"
        "print(len(mods))"
    )
    r = _python(code, tmp_path)
    assert r.returncode == 0 and int(r.stdout) > 20, r.stderr
    assert [p for p in tmp_path.rglob("*")] == []  # no settings, database, secret or folder written


def test_server_without_the_extra_says_how_to_install(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "sys.modules['pydantic_settings'] = None  # as if the platform extra were not installed\n"
        "from yoloforge.cli import main\n"
        "sys.exit(main(['server', '--port', '8123']))"
    )
    r = _python(code, tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip() == (
        "yoloforge: error: 'yoloforge server' needs pydantic_settings, which is not installed: "
        "pip install yoloforge[platform]"
    )


def test_help_lists_the_server(tmp_path: Path) -> None:
    r = _python("from yoloforge.cli import main; main(['help'])", tmp_path)
    assert "yoloforge server" in r.stdout and "yoloforge[platform]" in r.stdout
