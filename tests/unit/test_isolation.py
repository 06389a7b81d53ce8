"""The unit suite needs no database, no web framework and no disk.

Three proofs: the rest of the unit suite passes in a fresh interpreter where
SQLAlchemy, the database drivers and Pyramid cannot be imported and where
every file opened for writing is recorded; importing the whole domain and the
in-memory adapters pulls in none of them; and no module of the domain even
mentions an outer layer or a framework in an import (the dependency rule).
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import domain

THIS_FILE = Path(__file__).resolve()
REPO = THIS_FILE.parents[2]
UNIT = THIS_FILE.parent
DOMAIN_DIR = Path(domain.__file__).resolve().parent

BLOCKED = ("sqlalchemy", "psycopg", "psycopg2", "sqlite3", "pyramid", "pyramid_tm", "webob")
DOMAIN_MAY_NOT_IMPORT = frozenset(
    {
        "pyramid",
        "sqlalchemy",
        "zope",
        "transaction",
        "colander",
        "waitress",
        "webob",
        "alembic",
        "jwt",
        "argon2",
        "adapters",
        "entrypoints",
        "psycopg",
        "psycopg2",
        "sqlite3",
    }
)

# Run in a fresh interpreter via ``python -c``: a meta-path finder refuses
# the blocked packages, an audit hook records every file opened for writing
# and every file-system change, then pytest runs the arguments it is given.
BOOTSTRAP = r"""
import os, sys

BLOCKED = set(sys.argv[1].split(","))
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
CHANGES = ("os.mkdir", "os.rename", "os.replace", "os.remove", "os.rmdir", "os.truncate")
writes = []

class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ImportError(f"{name} is not available to the unit suite")
        return None

def audit(event, args):
    if event == "open":
        path, mode, flags = args
        if isinstance(path, int) or path == os.devnull:  # pytest's logging opens it
            return
        if isinstance(flags, int):
            writing = flags & WRITE_FLAGS
        else:
            writing = mode and set(mode) & set("wax+")
        if writing:
            writes.append(f"open {path!r} {mode!r}")
    elif event in CHANGES:
        writes.append(f"{event} {args[0]!r}")

already = sorted(BLOCKED & {name.partition(".")[0] for name in sys.modules})
if already:
    sys.exit(f"already imported before the blocker: {already}")
sys.meta_path.insert(0, Blocker())
for name in sorted(BLOCKED):
    try:
        __import__(name)
    except ImportError:
        pass
    else:
        sys.exit(f"the blocker let {name} through")
print("BLOCKER-ARMED", flush=True)

sys.addaudithook(audit)
import pytest

if sys.argv[2] == "--exec":
    exec(sys.argv[3])
    code = 0
else:
    code = pytest.main(sys.argv[2:])
if writes:
    print("FILES WRITTEN:", *writes, sep="\n  ", flush=True)
    sys.exit(97)
sys.exit(code)
"""


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def test_unit_suite_passes_without_database_web_framework_or_disk() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            BOOTSTRAP,
            ",".join(BLOCKED),
            str(UNIT),
            "-q",
            "-p",
            "no:cacheprovider",
            "--capture=sys",
            f"--ignore={THIS_FILE}",
        ],
        cwd=REPO,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert "BLOCKER-ARMED" in result.stdout, output
    assert result.returncode == 0, output
    assert " passed" in result.stdout, output
    assert "FILES WRITTEN" not in result.stdout, output


PROBE = """
for name in ("sqlalchemy", "sqlalchemy.orm", "psycopg", "pyramid.config"):
    try:
        __import__(name)
    except ImportError as exc:
        print("REFUSED", exc)
try:
    open(os.path.join(os.devnull, "probe.bin"), "wb")  # recorded, yet fails: nothing written
except OSError:
    pass
"""


def test_bootstrap_catches_blocked_imports_and_file_writes() -> None:
    """The harness above is no rubber stamp: it sees both kinds of offence
    (the write is aimed inside the null device, so it fails and this test
    writes no file either)."""
    result = subprocess.run(
        [sys.executable, "-c", BOOTSTRAP, ",".join(BLOCKED), "--exec", PROBE],
        cwd=REPO,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = result.stdout + result.stderr
    refused = [line for line in result.stdout.splitlines() if line.startswith("REFUSED")]
    assert refused == [
        f"REFUSED {top} is not available to the unit suite"
        for top in ("sqlalchemy", "sqlalchemy", "psycopg", "pyramid")
    ], output
    assert "FILES WRITTEN" in result.stdout, output
    assert "probe.bin" in result.stdout, output
    assert result.returncode == 97, output


def test_domain_and_memory_adapters_import_no_framework() -> None:
    """Started clean, since this pytest process may hold them already."""
    script = (
        "import importlib, json, pkgutil, sys\n"
        "import domain, adapters.memory\n"
        "names = [m.name for m in pkgutil.walk_packages(domain.__path__, 'domain.')]\n"
        "for name in names:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps({'imported': names, 'modules': sorted(sys.modules)}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    report = json.loads(result.stdout)
    assert "domain.services.pretrained_models" in report["imported"]
    assert "domain.filters" in report["imported"]
    loaded_tops = {name.partition(".")[0] for name in report["modules"]}
    assert "adapters" in loaded_tops
    forbidden = {"sqlalchemy", "pyramid", "psycopg", "psycopg2", "sqlite3", "transaction"}
    assert loaded_tops & forbidden == set()
    assert loaded_tops & DOMAIN_MAY_NOT_IMPORT == {"adapters"}  # adapters.memory itself


def forbidden_imports(source: str, filename: str = "<source>") -> set[str]:
    """Top-level names of the forbidden packages this source imports."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source, filename)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif (
            isinstance(node, ast.Call)
            and (
                (isinstance(node.func, ast.Name) and node.func.id == "__import__")
                or (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
            )
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names = [node.args[0].value]
        found |= {n.partition(".")[0] for n in names} & DOMAIN_MAY_NOT_IMPORT
    return found


def test_the_import_checker_finds_every_spelling() -> None:
    source = (
        "import os, sqlalchemy.orm\n"
        "from adapters.memory import MemoryUnitOfWork\n"
        "from zope.interface import Interface\n"
        "from domain import errors\n"
        "from . import filters\n"
        "def late():\n"
        "    import jwt\n"
        "    importlib.import_module('pyramid.config')\n"
        "    __import__('entrypoints')\n"
    )
    assert forbidden_imports(source) == {
        "sqlalchemy",
        "adapters",
        "zope",
        "jwt",
        "pyramid",
        "entrypoints",
    }


def test_domain_obeys_the_dependency_rule() -> None:
    modules = sorted(DOMAIN_DIR.rglob("*.py"))
    relative = {p.relative_to(DOMAIN_DIR).as_posix() for p in modules}
    assert {"filters.py", "ports.py", "services/pretrained_models.py"} <= relative
    offences = {
        p.relative_to(DOMAIN_DIR).as_posix(): found
        for p in modules
        if (found := forbidden_imports(p.read_text(encoding="utf-8"), str(p)))
    }
    assert offences == {}
