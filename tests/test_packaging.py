"""A non-editable install (the wheel) carries conf/ and its apps find it."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # builds the wheel and installs it into a fresh virtualenv

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_carries_the_configs_and_the_app_composes_from_it(tmp_path):
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path / "dist"), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    wheel = next((tmp_path / "dist").glob("mlm_lab-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"mlm_lab/{p.relative_to(ROOT).as_posix()}" for p in (ROOT / "conf").rglob("*.yaml")}
    assert expected and expected <= names
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    for app in ("mlm-train = mlm_lab.apps.train:main", "mlm-generate = mlm_lab.apps.generate:main", "mlm-eval = mlm_lab.apps.eval:main"):
        assert app in entry_points

    target = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    env = {**os.environ, "PYTHONPATH": str(target)}
    where = subprocess.run(
        [sys.executable, "-c", "from mlm_lab.schemas import conf_dir; print(conf_dir())"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert where.stdout.strip() == str(target / "mlm_lab" / "conf"), where.stderr[-2000:]
    show_job = [sys.executable, "-m", "mlm_lab.apps.train", "--cfg", "job", "model.d_model=64"]
    job = subprocess.run(show_job, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert job.returncode == 0, job.stderr[-3000:]
    assert "d_model: 64" in job.stdout and "ArithmeticTask" in job.stdout
