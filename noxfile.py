"""Contributor sessions: `nox -s quick`, `nox -s tests`, `nox -s lint`, `nox -s bench`, `nox -s fuzz`, `nox -s interop`."""

import os

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.default_venv_backend = "venv"

TORCH = "torch==2.13.0"  # the CPU build; install it before the project or pip pulls the CUDA build
LLAMA_CPP = "llama-cpp-python>=0.3.16"  # llama.cpp's Python binding, built from source: what runs format=gguf exports


def install(session: nox.Session) -> None:
    session.install(TORCH)
    session.install("-e", ".[test]")


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite (the same command as README and CI)."""
    install(session)
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def quick(session: nox.Session) -> None:
    """The fast tier, about a minute: every module's unit tests, without the tests marked slow."""
    install(session)
    session.run("python", "-m", "pytest", "-m", "not slow", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install("ruff")
    session.run("ruff", "check", "mlm_lab", "tests", "bench", "noxfile.py")
    session.run("ruff", "format", "--check", "mlm_lab", "tests", "bench", "noxfile.py")


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks with speed and quality targets; figures go to bench/README.md."""
    install(session)
    scripts = (
        "model_throughput.py",
        "generation_throughput.py",
        "mfu.py",
        "compile_speed.py",
        "tracking_overhead.py",
        "sweep_launchers.py",
        "arithmetic_e2e.py",
        "text_e2e.py",
    )
    for script in scripts:
        session.run("python", f"bench/{script}")


@nox.session
def interop(session: nox.Session) -> None:
    """Exports run by llama.cpp: builds llama-cpp-python from its PyPI source (10-25 minutes on 2 cores), then the
    tests marked interop (tests/test_gguf_llamacpp.py)."""
    install(session)
    session.install(LLAMA_CPP, env={"CMAKE_BUILD_PARALLEL_LEVEL": str(os.cpu_count() or 1)})
    session.run("python", "-m", "pytest", "-m", "interop", *session.posargs)


@nox.session
def fuzz(session: nox.Session) -> None:
    """A long random fuzz of the config surface (tests/test_fuzz_config.py); MLM_LAB_FUZZ_EXAMPLES sets how many examples."""
    install(session)
    env = {"MLM_LAB_FUZZ_EXAMPLES": os.environ.get("MLM_LAB_FUZZ_EXAMPLES", "1000")}
    session.run("python", "-m", "pytest", "tests/test_fuzz_config.py", "-n0", "-q", *session.posargs, env=env)
