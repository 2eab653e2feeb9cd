"""`make wheel` builds a wheel that installs, with its dependencies, into a clean virtualenv and runs the job.

This is what a cluster does with it (`pip install hubstream-*.whl`, or a Databricks cluster library): the
wheel alone installs no pyspark (a runtime brings its own); `hubstream[spark]` adds it. The dependencies
come from pip's usual index and cache: pyspark is the large one (a few seconds from a warm cache, longer
on a cold one, hence the generous timeout).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# Every top-level package of the checkout ships, but for what only serves the checkout itself: tests,
# benchmarks, demos, notebooks, and the runner of the Azurite it installs into .azurite/.
CHECKOUT_ONLY = {"tests", "bench", "demos", "notebooks", "azurite"}
PACKAGES = tuple(
    sorted(p.parent.name for p in REPO.glob("*/__init__.py") if p.parent.name not in CHECKOUT_ONLY)
)
SCRIPTS = ("hubstream-emulator", "hubstream-produce", "hubstream-consume", "hubstream-read-events")


def _clean_env() -> dict[str, str]:
    """This environment without what would let the new venv see this tree or this venv."""
    drop = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"}
    return {k: v for k, v in os.environ.items() if k not in drop}


def _run(args: list[str | Path], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=_clean_env(), capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, (
        f"{' '.join(map(str, args))} failed ({result.returncode}):\n{result.stdout[-3000:]}\n"
        f"{result.stderr[-3000:]}"
    )
    return result


def _tree_files() -> set[str]:
    """The modules and profiles the wheel must hold, as paths relative to the repo."""
    files: set[str] = set()
    for package in PACKAGES:
        for path in (REPO / package).rglob("*"):
            if "__pycache__" in path.parts or not path.is_file():
                continue
            if path.suffix == ".py" or (path.suffix == ".toml" and path.parent.name in ("conf", "emulator")):
                files.add(path.relative_to(REPO).as_posix())
    return files


@pytest.mark.timeout(900)
def test_make_wheel_installs_into_a_clean_venv_and_runs(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    # The interpreter running the tests builds it, so make never creates or reinstalls .venv here.
    _run(["make", "-s", "-C", REPO, "wheel", f"DIST={dist}", f"VENV_PY={sys.executable}"], REPO, 300)
    [wheel] = dist.glob("hubstream-*-py3-none-any.whl")
    assert not (REPO / "build").exists(), "make wheel left build/ behind"
    assert not list(REPO.glob("*.egg-info")), "make wheel left *.egg-info behind"

    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        [entry_points] = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        scripts = archive.read(entry_points).decode()
    packaged = {n for n in names if n.split("/")[0] in PACKAGES}
    missing = _tree_files() - packaged
    assert not missing, f"the wheel lacks {sorted(missing)}"
    assert {"conf/local.toml", "conf/azure.toml", "conf/databricks.toml"} <= names
    assert not {n for n in names if n.split("/")[0] in CHECKOUT_ONLY}
    for script in SCRIPTS:
        assert f"{script} = " in scripts

    venv = tmp_path / "venv"
    try:
        _run([sys.executable, "-m", "venv", venv], tmp_path, 120)
        python = venv / "bin" / "python"
        pip: list[str | Path] = [python, "-m", "pip", "install", "--disable-pip-version-check"]
        # As on a Databricks Runtime: the wheel alone must not bring a PySpark of its own...
        _run([*pip, wheel], tmp_path, 300)
        installed = _run([python, "-m", "pip", "list", "--format=freeze"], tmp_path, 60).stdout
        assert "pyspark==" not in installed.lower(), installed
        # ...and the `spark` extra brings it where there is no Spark.
        _run([*pip, f"{wheel}[spark]"], tmp_path, 840)
        assert "pyspark==4." in _run([python, "-m", "pip", "list", "--format=freeze"], tmp_path, 60).stdout

        # From tmp_path, so only the installed package can answer, not this checkout.
        where = _run(
            [python, "-c", "import conf, jobs; print(jobs.__file__); print(conf.PROFILE_DIR)"], tmp_path, 60
        )
        for line in where.stdout.splitlines():
            assert Path(line).is_relative_to(venv), f"imported from {line}, not the venv"

        help_text = _run([python, "-m", "jobs.read_events", "--help"], tmp_path, 120).stdout
        assert help_text.startswith("usage: python -m jobs.read_events")
        assert "--max-events-per-trigger" in help_text and "--starting-position" in help_text
        # The profile names come from the conf/*.toml files the wheel installed.
        assert "azure, databricks, local" in " ".join(help_text.split())
        script = _run([venv / "bin" / "hubstream-read-events", "--help"], tmp_path, 120).stdout
        assert "--max-events-per-trigger" in script
    finally:
        shutil.rmtree(venv, ignore_errors=True)  # about 700 MB with pyspark
