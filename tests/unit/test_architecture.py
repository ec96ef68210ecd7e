"""The core stays platform-agnostic: it imports no platform library, no database driver and no adapter."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("discord", "telegram", "adapters", "bots", "sqlite3", "aiosqlite", "asyncpg")


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_core_source_imports_no_platform_library_or_adapter() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in sorted((ROOT / "core").rglob("*.py"))
        for name in _imports(path)
        if name.split(".")[0] in FORBIDDEN
    ]
    assert offenders == []


def test_importing_the_whole_core_loads_no_platform_module() -> None:
    modules = [
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for p in (ROOT / "core").rglob("*.py")
    ]
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"bad = [m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}]\n"
        "print(bad); raise SystemExit(1 if bad else 0)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], check=False, cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


PACKAGES = ("core", "adapters", "bots")
# Who may move money: the cashier, and the ledger's own implementation in the storage backends.
MONEY_MOVERS = ("core/billing/", "adapters/storage/sqlite/ledger.py", "adapters/storage/")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            found[".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")] = path
    return found


def _import_graph() -> dict[str, set[str]]:
    """Module → the project's modules it imports (type-checking imports included)."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            else:
                continue
            graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def test_no_two_files_import_each_other_even_through_others() -> None:
    graph = _import_graph()
    circles = []
    for start in graph:  # a path from a module back to itself is a circle
        stack, seen = [(start, (start,))], set()
        while stack:
            node, path = stack.pop()
            for target in graph[node]:
                if target == start:
                    circles.append(" → ".join((*path, start)))
                elif target not in seen:
                    seen.add(target)
                    stack.append((target, (*path, target)))
    assert circles == []


def test_adapters_never_import_bots() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in sorted((ROOT / "adapters").rglob("*.py"))
        for name in _imports(path)
        if name.split(".")[0] == "bots"
    ]
    assert offenders == []


def test_only_the_cashier_and_the_ledger_move_money() -> None:
    """The ledger's reserve, settle and refund are called only in core/billing/ (and by the
    ledger itself); everything else goes through the cashier."""
    offenders = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            where = path.relative_to(ROOT).as_posix()
            if where.startswith(MONEY_MOVERS):
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("reserve", "settle", "refund", "refund_undelivered")
                    and "ledger" in ast.unparse(node.func.value).lower()
                ):
                    offenders.append(f"{where}:{node.lineno} {node.func.attr}")
    assert offenders == []


def test_only_bots_import_a_storage_backend() -> None:
    """The core speaks to storage through core/ports/storage.py; bootstrap picks the backend."""
    offenders = [
        f"{path.relative_to(ROOT)}: {name}"
        for package in PACKAGES
        if package != "bots"
        for path in sorted((ROOT / package).rglob("*.py"))
        if not path.relative_to(ROOT).as_posix().startswith("adapters/storage/")
        for name in _imports(path)
        if name == "adapters.storage" or name.startswith("adapters.storage.")
    ]
    assert offenders == []


MAX_LINES = 450


def test_every_file_stays_small_enough_to_read_in_one_sitting() -> None:
    too_long = [
        f"{path.relative_to(ROOT)}: {lines} lines"
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    ]
    assert too_long == []
