"""The unit suite needs no database, no web framework, no network and no disk.

Three proofs: the rest of the unit suite runs in a fresh interpreter where
SQLAlchemy, the database drivers and Pyramid cannot be imported, no socket can
be opened and every file opened for writing is recorded, and no unit test
tries any of these; importing the whole domain and the in-memory adapters
pulls in none of them; and no module of the domain even mentions an outer
layer or a framework in an import (the dependency rule).

The first run reports only such violations, each with the test or the
collection that committed it: a unit test that fails for any other reason is
reported once, by the unit run itself, not a second time here.
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
# the blocked packages, an audit hook refuses sockets and records every file
# opened for writing and every file-system change, each as a violation of the
# test running at the time; then pytest runs the arguments it is given. The
# outcome of the tests themselves is left to the run that reports them.
BOOTSTRAP = r"""
import os, sys

BLOCKED = set(sys.argv[1].split(","))
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
CHANGES = ("os.mkdir", "os.rename", "os.replace", "os.remove", "os.rmdir", "os.truncate")
NETWORK = (
    "socket.__new__",
    "socket.connect",
    "socket.bind",
    "socket.getaddrinfo",
    "socket.gethostbyname",
    "socket.gethostbyaddr",
    "socket.sendto",
)
START = "pytest start-up"
where = [START]  # the test, or the collection, running now
violations = {}  # ordered, without repeats

def violation(what):
    violations[f"{where[0]}: {what}"] = None

class Blocker:
    armed = False

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            if self.armed:
                violation(f"imports {name}")
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
            violation(f"writes {path!r}")
    elif event in CHANGES:
        violation(f"{event} {args[0]!r}")
    elif event in NETWORK and where[0] != START:  # installed plugins probe at start-up
        violation(f"uses the network ({event})")
        raise PermissionError("the network is not available to the unit suite")

already = sorted(BLOCKED & {name.partition(".")[0] for name in sys.modules})
if already:
    sys.exit(f"already imported before the blocker: {already}")
blocker = Blocker()
sys.meta_path.insert(0, blocker)
for name in sorted(BLOCKED):
    try:
        __import__(name)
    except ImportError:
        pass
    else:
        sys.exit(f"the blocker let {name} through")
blocker.armed = True
print("BLOCKER-ARMED", flush=True)

sys.addaudithook(audit)
import pytest

class Where:
    collected = ran = 0

    def pytest_load_initial_conftests(self):
        where[0] = "loading the conftest files"

    def pytest_collectstart(self, collector):
        where[0] = f"collecting {collector.nodeid or 'the session'}"

    def pytest_collection_finish(self, session):
        self.collected = len(session.items)

    def pytest_runtest_logstart(self, nodeid, location):
        where[0] = nodeid
        self.ran += 1

plugin = Where()
code = pytest.main(sys.argv[2:], plugins=[plugin])
print(f"RAN {plugin.ran} OF {plugin.collected}", flush=True)
print(*(f"VIOLATION {v}" for v in violations), sep="\n", flush=True)
if violations:
    sys.exit(97)
# Failed tests are the unit run's to report; only a broken run counts here.
sys.exit(0 if code in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED) else int(code))
"""


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def run_isolated(
    *pytest_args: str, installed_plugins: bool = True
) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run pytest under the bootstrap; the result and its whole output."""
    env = _clean_env()
    if not installed_plugins:
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    result = subprocess.run(
        [sys.executable, "-c", BOOTSTRAP, ",".join(BLOCKED), *pytest_args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert "BLOCKER-ARMED" in result.stdout, output
    return result, output


def violations(stdout: str) -> list[str]:
    return [
        line.removeprefix("VIOLATION ")
        for line in stdout.splitlines()
        if line.startswith("VIOLATION ")
    ]


def ran_of_collected(stdout: str) -> tuple[int, int]:
    """How many tests ran, of how many were collected."""
    (line,) = [line for line in stdout.splitlines() if line.startswith("RAN ")]
    _, ran, _, collected = line.split()
    return int(ran), int(collected)


# File capture would write temporary files: capture sys.stdout and stderr instead.
QUIET = ("-q", "-p", "no:cacheprovider", "--capture=sys", "--tb=no")


def test_unit_suite_runs_without_database_web_framework_network_or_disk() -> None:
    result, output = run_isolated(
        str(UNIT), *QUIET, "--continue-on-collection-errors", f"--ignore={THIS_FILE}"
    )
    found = violations(result.stdout)
    assert found == [], "\n".join(["Isolation violations:", *found])
    ran, collected = ran_of_collected(result.stdout)
    assert ran == collected > 0, output
    assert result.returncode == 0, output


CANARY = """
import os
import socket


def test_imports_the_orm():
    import sqlalchemy.orm


def test_swallows_refused_imports():
    for name in ("psycopg", "pyramid.config"):
        try:
            __import__(name)
        except ImportError:
            pass


def test_writes_a_file():
    try:
        open(os.path.join(os.devnull, "canary.bin"), "wb")  # recorded, yet fails
    except OSError:
        pass


def test_opens_a_socket():
    socket.socket().close()


def test_fails_for_another_reason():
    assert 1 + 1 == 3


def test_passes():
    pass
"""


def test_bootstrap_reports_every_violation_and_only_violations(tmp_path: Path) -> None:
    """The harness above is no rubber stamp: it names each offence and the
    test that committed it, even one whose error the test swallowed (the
    write is aimed inside the null device, so it fails and writes nothing);
    and it does not report a test that merely fails."""
    canary = tmp_path / "test_canary.py"
    canary.write_text(CANARY, encoding="utf-8")
    args = (str(canary), *QUIET, f"--rootdir={tmp_path}")

    result, output = run_isolated(*args, installed_plugins=False)
    assert violations(result.stdout) == [
        "test_canary.py::test_imports_the_orm: imports sqlalchemy",
        "test_canary.py::test_swallows_refused_imports: imports psycopg",
        "test_canary.py::test_swallows_refused_imports: imports pyramid",
        f"test_canary.py::test_writes_a_file: writes {os.path.join(os.devnull, 'canary.bin')!r}",
        "test_canary.py::test_opens_a_socket: uses the network (socket.__new__)",
    ], output
    assert ran_of_collected(result.stdout) == (6, 6), output
    assert result.returncode == 97, output

    result, output = run_isolated(
        *args, "-k", "fails_for_another_reason or passes", installed_plugins=False
    )
    assert violations(result.stdout) == [], output
    assert ran_of_collected(result.stdout) == (2, 2), output
    assert result.returncode == 0, output


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
