"""Shared fixtures: the test corpora, config composition, a temporary tracking store, and small trained models."""

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from mlm_lab.schemas import conf_dir, register_schemas

register_schemas()


def pytest_collection_modifyitems(config, items):
    """The files with the most slow tests first, the rest in collection order after them.

    pytest-xdist (`--dist loadfile --no-loadscope-reorder`) hands files out in this order, one at a time to whichever
    worker runs dry: the long files start at once on both workers and the short ones fill the gaps at the end. Its
    default order, most tests first, left the few-test, minute-long files (SIGKILL, a polled store, an outage) for
    last, one worker running them alone for minutes while the other sat idle.
    """
    slow: dict[Path, int] = {}
    for item in items:
        slow[item.path] = slow.get(item.path, 0) + (item.get_closest_marker("slow") is not None)
    items.sort(key=lambda item: -slow[item.path])  # stable: a file's tests keep their order


# A 2-digit addition model that trains to 100% exact match in about 15 s on 2 CPU cores.
SMALL = [
    "data.high=99",
    "data.n_train=4000",
    "data.n_val=200",
    "data.n_test=200",
    "data.batch_size=128",
    "model.d_model=64",
    "model.n_layers=2",
    "optimizer.lr=3e-3",
    "trainer.eval_every=400",
    "trainer.log_every=50",
    "hardware=cpu",
]

# A small text model trained on CPU in fp32 (no dropout): the export tests compare it with other tools' outputs.
SMALL_TEXT = [
    "tokenizer.vocab_size=512",
    "model.d_model=48",
    "model.n_layers=2",
    "model.n_heads=4",
    "model.context_length=64",
    "model.dropout=0.0",
    "data.batch_size=16",
    "hardware.precision=fp32",
]

# Tiny jobs: a 1-layer model, 10 steps; the sweep machinery is what is tested.
TINY = [
    "data.high=99",
    "data.n_train=1000",
    "data.n_val=100",
    "data.n_test=100",
    "data.batch_size=64",
    "model.n_layers=1",
    "trainer.max_steps=10",
    "trainer.eval_every=10",
    "trainer.log_every=5",
    "hardware=cpu",
]

# The suite's own corpora: small excerpts of the shared ones, committed with their sources in tests/data/README.md,
# so a clone of the repository alone runs every test. Benchmarks read the full files ($MLM_LAB_DATA or ../shared/data).
TEST_DATA = Path(__file__).resolve().parent / "data"


def data_file(relative: str) -> str:
    """A corpus excerpt from tests/data (e.g. `cervantes/quijote.txt`); a missing file fails the test, it never skips."""
    path = TEST_DATA / relative
    assert path.is_file(), f"{path} is missing: it is part of the repository (tests/data/README.md lists it); restore it with git"
    return str(path)


def stories_parquet(directory: Path) -> tuple[str, str]:
    """The TinyStories excerpts as the hub's parquet layout (a `text` column): (train file, validation file)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    paths = []
    for split, n in (("train", 300), ("valid", 60)):
        stories = Path(data_file(f"tinystories/{split}.txt")).read_text().split("<|endoftext|>\n")[:n]
        paths.append(directory / f"{split}.parquet")
        pq.write_table(pa.table({"text": [s.strip() for s in stories]}), paths[-1])
    return str(paths[0]), str(paths[1])


def local_data(data_choice: str, tmp_path: Path | None = None) -> list[str]:
    """Overrides that point a data config at the excerpts in tests/data instead of their download URLs."""
    if data_choice == "tinystories_parquet":
        train, valid = stories_parquet(tmp_path)
        return [f"data.corpus.path=[{train}]", f"data.corpus.val_path={valid}"]
    quijote = data_file("cervantes/quijote.txt")
    stories = f"[{data_file('tinystories/train.txt')},{data_file('tinystories/train_v2_gpt4.txt')}]"
    valid = data_file("tinystories/valid.txt")
    return {
        "cervantes": [f"data.corpus.path={quijote}", "data.corpus.heldout_chapters=[I.2]"],  # the excerpt's chapters
        "tinystories": [f"data.corpus.path={stories}", f"data.corpus.val_path={valid}"],
        "text": [f"data.corpus.path={valid}", "data.corpus.separator='<|endoftext|>'"],
        "mixture": [
            f"data.corpus.corpora.tinystories.path={stories}",
            f"data.corpus.corpora.tinystories.val_path={valid}",
            f"data.corpus.corpora.cervantes.path={quijote}",
        ],
    }.get(data_choice, [])


def compose_config(overrides: list[str], config_name: str = "config", subdir: str = "", return_hydra_config: bool = False):
    """Compose a config from conf/ the way the apps do."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf_dir() / subdir), version_base="1.3"):
        return compose(config_name=config_name, overrides=overrides, return_hydra_config=return_hydra_config)


def load_bench(name: str):
    """The module bench/NAME.py (bench/ is scripts, not a package), imported from its file."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parents[1] / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sqlite_uri(directory: Path) -> str:
    return f"sqlite:///{directory / 'mlflow.db'}"


_store_template: list[Path] = []  # an empty store migrated once per process, made on first use


def fresh_store(directory: Path) -> str:
    """The URI of a new, empty sqlite store `directory/mlflow.db`: a copy of one migrated once per process.

    Creating a store runs MLflow's schema migrations (3-5 s here); tests whose point is not that use this one.
    """
    import shutil
    import tempfile

    from mlflow import MlflowClient

    if not _store_template:
        folder = Path(tempfile.mkdtemp(prefix="mlm_lab_store_"))
        MlflowClient(sqlite_uri(folder)).search_experiments()  # creates the tables
        _store_template.append(folder / "mlflow.db")
    shutil.copyfile(_store_template[0], Path(directory) / "mlflow.db")
    return sqlite_uri(Path(directory))


def cpu_share() -> int:
    """CPU threads for one test process: the cores divided among pytest-xdist's workers (all of them with -n 0)."""
    return max(1, (os.cpu_count() or 1) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))


# Every xdist worker already has a core; torch's default of one thread per core in each of them (and in the
# training processes they start) oversubscribes the machine: threads wait on cores another worker holds.
# The same share for every process a test starts itself (subprocess.Popen with os.environ: SIGKILL and signal tests,
# servers, sweeps' jobs), not only through run_cli: a child with torch's default of one thread per core, beside the
# other worker, ran the SIGKILL test 5x slower than alone (140 s against 28 s).
if "PYTEST_XDIST_WORKER_COUNT" in os.environ:
    torch.set_num_threads(cpu_share())
    os.environ.setdefault("OMP_NUM_THREADS", str(cpu_share()))
    os.environ.setdefault("MKL_NUM_THREADS", str(cpu_share()))


def run_cli(args: list[str], cwd: Path, tracking_uri: str | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run `python -m mlm_lab.<app> ...` in a fresh process, on this test process's share of the cores."""
    # hardware.threads, or a parallel launcher's share, still override this
    threads = str(cpu_share())
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
    env.pop("MLFLOW_TRACKING_URI", None)
    if tracking_uri:
        env["MLFLOW_TRACKING_URI"] = tracking_uri
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_output(path: Path):
    """A file for a server's output. Never a pipe nobody reads: a server blocks on its log once the pipe's 64 KiB fill
    (MLflow 3's server logs every job-queue poll), and then answers nothing."""
    return open(path, "w")  # noqa: SIM115 (closed with the server)


def server_log(server: subprocess.Popen) -> str:
    name = getattr(server, "log_path", None)
    return Path(name).read_text(errors="replace") if name and Path(name).is_file() else ""


def wait_for_http(url: str, server: subprocess.Popen, timeout: float = 180) -> None:
    """Poll `url` until it answers 200; fail with the server's output if it exits or the time runs out."""
    deadline = time.time() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            if server.poll() is not None or time.time() > deadline:
                output = server_log(server)[-3000:] if server.poll() is not None else "timeout"
                pytest.fail(f"server at {url} did not come up: {output}")
            time.sleep(1)


def stop_group(process: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM to the process's group, SIGKILL to what is left after `timeout` seconds."""
    import signal

    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=timeout)
            os.killpg(process.pid, signal.SIGKILL)  # children that outlived the server
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue
        return


@contextlib.contextmanager
def mlflow_server(root: Path):
    """A real `mlflow server` on 127.0.0.1 with its own sqlite backend store and artifact root in `root`; yields its URL."""
    port = free_port()
    args = ["--backend-store-uri", f"sqlite:///{root / 'backend.db'}", "--artifacts-destination", str(root / "artifacts")]
    output = server_output(root / "server.log")
    process = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", *args, "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        cwd=root,
        stdout=output,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: the server's job consumers (huey, MLflow 3.x) end with it
    )
    process.log_path = output.name
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/health", process)
        yield url
    finally:
        stop_group(process)
        output.close()


# `mlflow models serve` runs `uvicorn` from PATH: this interpreter's scripts first, for a virtualenv not activated
VENV_PATH = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


@contextlib.contextmanager
def models_serve(model_uri: str, tracking_uri: str, cwd: Path, env: dict | None = None):
    """A real `mlflow models serve` of `model_uri` on 127.0.0.1; yields its /invocations URL."""
    port = free_port()
    output = server_output(Path(cwd) / f"models_serve_{port}.log")
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "models", "serve", "-m", model_uri, "--env-manager", "local"]
        + ["-h", "127.0.0.1", "-p", str(port)],
        cwd=cwd,
        env={**os.environ, "PATH": VENV_PATH, "MLFLOW_TRACKING_URI": tracking_uri, **(env or {})},
        stdout=output,
        stderr=subprocess.STDOUT,
        text=True,
    )
    server.log_path = output.name
    try:
        wait_for_http(f"http://127.0.0.1:{port}/ping", server)
        yield f"http://127.0.0.1:{port}/invocations"
    finally:
        server.terminate()
        server.wait(timeout=30)
        output.close()


def runs_of(uri: str, experiment: str = "arithmetic"):
    """(parents, children) of the experiment, as MLflow Run objects (and `uri` made the fluent API's store)."""
    import mlflow

    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id], max_results=1000)
    parents = [r for r in runs if r.data.tags.get("mlm_lab.role") == "sweep"]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    return parents, children


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A fresh sqlite tracking store in tmp_path, which is also the working directory (artifacts go to ./mlruns)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return fresh_store(tmp_path)


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """Train and register the small model once, through the real CLI; returns (workdir, tracking_uri)."""
    workdir = tmp_path_factory.mktemp("trained")
    uri = sqlite_uri(workdir)
    result = run_cli(["mlm_lab.apps.train", *SMALL, "trainer.max_steps=800", "name=small"], cwd=workdir, tracking_uri=uri)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return workdir, uri


def train_runs(workdir: Path, runs: dict[str, list[str]]) -> str:
    """Train and register each run (name -> overrides) in this process into a fresh sqlite store in `workdir`, each
    with its own output folder `workdir/NAME`; returns the store's URI."""
    from mlm_lab.runner import train

    uri = sqlite_uri(workdir)
    previous = Path.cwd()
    os.chdir(workdir)  # MLflow puts a sqlite store's artifacts in ./mlruns
    try:
        for name, overrides in runs.items():
            overrides = [*overrides, f"tracking.uri={uri}"]
            train(compose_config([*overrides, f"output_dir={workdir / name}"]), overrides=overrides)
    finally:
        os.chdir(previous)
    return uri


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory):
    """Two 10-step arithmetic runs (d_model 32 and 64), trained in this process into a fresh sqlite store and
    registered as `arithmetic`; returns (workdir, tracking_uri). For the apps' tests, which need runs, not accuracy."""
    from mlm_lab.runner import train

    workdir = tmp_path_factory.mktemp("tiny_runs")
    uri = sqlite_uri(workdir)
    previous = Path.cwd()
    os.chdir(workdir)  # MLflow puts a sqlite store's artifacts in ./mlruns
    try:
        for width in (32, 64):
            shape = [f"model.d_model={width}", "data.n_val=20", "data.n_test=20", "tracking.system_metrics_interval=1"]
            overrides = [*TINY, *shape, f"tracking.uri={uri}", f"output_dir={workdir / str(width)}"]
            train(compose_config(overrides), overrides=overrides)
    finally:
        os.chdir(previous)
    return workdir, uri
