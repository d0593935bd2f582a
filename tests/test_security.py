"""Servers bind to 127.0.0.1 (issue 7): every `mlflow ui`, `mlflow server` and `mlflow models serve` we
document or launch, MLflow's own default host, and the README's advice on exposing a server safely."""

import ast
import re
from pathlib import Path

import click
import pytest
from mlflow.cli import cli

ROOT = Path(__file__).resolve().parents[1]
LOCAL = {"127.0.0.1", "localhost"}
SERVERS = (("ui",), ("server",), ("models", "serve"))

# the command, then its arguments up to the end of the code span, a comment or the next command
COMMAND = re.compile(r"\bmlflow\s+(ui|server|models\s+serve)\b([^`#;|&\n]*)")
HOST = re.compile(r"(?:^|\s)(?:-h|--host)(?:\s+|=)(\S+)")


def documents() -> list[Path]:
    """Where commands are written for people or CI to run: docs, experiment notes, benchmarks, scripts, CI."""
    paths = [
        ROOT / "README.md",
        ROOT / "noxfile.py",
        *ROOT.glob("docs/**/*.md"),
        *ROOT.glob("experiments/**/*.md"),
        *ROOT.glob("conf/**/*.yaml"),
    ]
    paths += [p for folder in ("bench", "scripts", ".ci") for p in (ROOT / folder).rglob("*") if p.is_file()]
    paths += [*ROOT.glob("mlm_lab/**/*.py"), *ROOT.glob("tests/*.py")]  # messages that suggest a command line
    return [p for p in paths if p.suffix not in (".png", ".pyc", ".db") and p.name != Path(__file__).name]


def command_lines(text: str) -> list[tuple[str, str | None]]:
    """(command, host or None) for every shell command line in `text`; backslash continuations are joined."""
    text = re.sub(r"\\\n\s*", " ", text)
    return [(" ".join(m[1].split()), h[1].strip("'\"") if (h := HOST.search(m[2])) else None) for m in COMMAND.finditer(text)]


def _strings(node) -> list[str | None]:
    """The elements of a list or tuple display (lists joined by +), constants as str and the rest as None."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _strings(node.left) + _strings(node.right)
    if isinstance(node, (ast.List, ast.Tuple)):
        return [e.value if isinstance(e, ast.Constant) and isinstance(e.value, str) else None for e in node.elts]
    return []


def launched(source: str) -> list[tuple[str, str | None]]:
    """(command, host or None) for every argv list in Python `source` that runs one of the servers."""
    tree = ast.parse(source)
    # a list inside `a + b` is read as part of the whole, not again on its own
    operands = {id(n) for b in ast.walk(tree) if isinstance(b, ast.BinOp) and isinstance(b.op, ast.Add) for n in (b.left, b.right)}
    found = []
    for node in ast.walk(tree):
        if id(node) in operands:
            continue
        args = _strings(node)
        for i, arg in enumerate(args):
            rest = args[i + 1 :]
            if arg != "mlflow" or not rest:
                continue
            name = " ".join(rest[:2]) if rest[:2] == ["models", "serve"] else rest[0]
            if name not in ("ui", "server", "models serve"):
                continue
            host = None
            for j, a in enumerate(rest):
                if a in ("-h", "--host"):
                    host = rest[j + 1] if j + 1 < len(rest) and rest[j + 1] is not None else "<not a literal>"
                elif a and a.startswith("--host="):
                    host = a.split("=", 1)[1]
            found.append((name, host))
    return found


def everything() -> dict[str, list[tuple[str, str | None]]]:
    """Every server command per file, written as shell lines or launched from Python argv lists."""
    found = {}
    for path in documents():
        text = path.read_text(encoding="utf-8", errors="replace")
        commands = command_lines(text) + (launched(text) if path.suffix == ".py" else [])
        if commands:
            found[str(path.relative_to(ROOT))] = commands
    return found


def test_every_documented_or_launched_server_binds_to_127_0_0_1():
    found = everything()
    exposed = {path: [c for c in commands if c[1] is not None and c[1] not in LOCAL] for path, commands in found.items()}
    assert not {path: c for path, c in exposed.items() if c}, "servers that bind beyond this machine"
    # the scan is not vacuous: it sees the README's commands and the tests' servers, each with an explicit host
    readme = found["README.md"]
    for name in ("ui", "server", "models serve"):
        assert (name, "127.0.0.1") in readme, name
    assert ("models serve", "127.0.0.1") in found["tests/conftest.py"]
    assert ("server", "127.0.0.1") in found["tests/conftest.py"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mlflow ui --backend-store-uri sqlite:///mlflow.db -h 0.0.0.0   # browse", [("ui", "0.0.0.0")]),
        ("`mlflow server --host=0.0.0.0 -p 5000` and `mlflow ui`", [("server", "0.0.0.0"), ("ui", None)]),
        ("mlflow models serve -m models:/a/1 \\\n    --host '0.0.0.0' -p 5001", [("models serve", "0.0.0.0")]),
        ("mlflow server -p 5000 && mlflow ui -h 127.0.0.1", [("server", None), ("ui", "127.0.0.1")]),
        ("the mlflow server answers; see mlflow models serve", [("server", None), ("models serve", None)]),
    ],
)
def test_the_scan_reads_hosts_from_shell_lines(text, expected):
    assert command_lines(text) == expected


def test_the_scan_reads_hosts_from_python_argv_lists():
    source = """
subprocess.Popen([sys.executable, "-m", "mlflow", "models", "serve", "-m", uri] + ["--host", "0.0.0.0"])
subprocess.run(["mlflow", "server", "--host=0.0.0.0"])
subprocess.run(("mlflow", "ui", "-h", host))
subprocess.run(["mlflow", "server", *args])
subprocess.run(["mlflow", "runs", "list", "-h", "0.0.0.0"])
"""
    assert launched(source) == [("models serve", "0.0.0.0"), ("server", "0.0.0.0"), ("ui", "<not a literal>"), ("server", None)]


@pytest.mark.parametrize("path", SERVERS, ids=" ".join)
def test_mlflows_own_default_host_is_127_0_0_1(path, monkeypatch):
    """A command with no host option is safe only because MLflow's default binds to this machine alone."""
    monkeypatch.delenv("MLFLOW_HOST", raising=False)  # the option's environment variable would change the default
    command, context = cli, click.Context(cli)
    for name in path:
        command = command.get_command(context, name)
        context = click.Context(command)
    (host,) = [p for p in command.params if p.name == "host"]
    assert {"-h", "--host"} <= set(host.opts)
    assert host.get_default(context) in LOCAL
    parsed = command.make_context(" ".join(path), [], resilient_parsing=True)  # what a bare command line resolves to
    assert parsed.params["host"] in LOCAL


def test_no_document_sets_mlflow_host():
    """MLFLOW_HOST=0.0.0.0 in a script would expose every command that relies on the default."""
    setting = re.compile(r"""MLFLOW_HOST['"]?\s*[=:,]\s*['"]?([^\s'"`)]+)""")
    values = {}
    for path in documents():
        text = path.read_text(encoding="utf-8", errors="replace")
        text = re.sub(r"^### Exposing a server\n.*?(?=^#)", "", text, flags=re.S | re.M)  # the README's warning against it
        values.update({f"{path.relative_to(ROOT)}: {m[0]}": m[1] for m in setting.finditer(text)})
    assert all(v in LOCAL for v in values.values()), values
    assert setting.findall('env={"MLFLOW_HOST": "0.0.0.0"}; export MLFLOW_HOST=0.0.0.0') == ["0.0.0.0", "0.0.0.0"]


def test_the_readme_says_how_to_expose_a_server_safely():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^### Exposing a server\n(.*?)(?=^#)", readme, re.S | re.M)
    assert match, "README: a section '### Exposing a server'"
    section = match[1]
    for needed in ("127.0.0.1", "ssh -N -L 5000:127.0.0.1:5000", "reverse proxy", "authenticat", "TLS", "--allowed-hosts", "0.0.0.0"):
        assert needed in section, needed
    for server in ("`mlflow ui`", "`mlflow server`", "`mlflow models serve`"):
        assert server in section, server
    assert "[Exposing a server](#exposing-a-server)" in readme  # the Quick start points there
