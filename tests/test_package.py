"""The installable package (issue 19): shipped configs named from any folder, clear errors without the optional
extras, and the wheel itself, installed into a fresh virtual environment with no network and used from a folder
outside the repository."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import tomllib

import pytest
from absl import flags
from ml_collections import config_flags
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from data_builders import build
from experiments import configs
from tests.egl import skip_without_egl
from tests.paths import REPO
from tests.test_readme import readme_examples, run_example

COMMANDS = {
    "ltsh-train", "ltsh-evaluate", "ltsh-predict", "ltsh-reproduce", "ltsh-demo", "ltsh-preview",
    "ltsh-contact-sheet", "ltsh-build", "ltsh-mpii-eval",
}  # fmt: skip
SHIPPED_SOURCES = ("pyproject.toml", "setup.py", "README.md", "ltsh_jax", "data_builders", "experiments")


# --- pyproject.toml against the pins of requirements*.txt ---------------------------------------------------------


def _pins(name: str) -> dict[str, str]:
    """{normalized package: pinned version} of one requirements file, following its `-r` includes."""
    pins = {}
    for line in (REPO / name).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line.startswith("-r "):
            pins |= _pins(line.removeprefix("-r ").strip())
        elif line:
            package, version = line.split("==")
            pins[canonicalize_name(package)] = version
    return pins


def _ranges(requirements: list[str]) -> dict[str, Requirement]:
    return {canonicalize_name(r.name): r for r in map(Requirement, requirements)}


def test_dependency_ranges_hold_the_pins_make_installs():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    runtime = _ranges(project["dependencies"])
    checks = [
        ("requirements.txt", {**runtime, **_ranges(extras["beam"])}),
        ("requirements-dev.txt", {**runtime, **_ranges(extras["beam"]), **_ranges(extras["dev"])}),
        ("requirements-bench.txt", {**runtime, **_ranges(extras["beam"]), **_ranges(extras["bench"])}),
    ]
    for name, declared in checks:
        pins = _pins(name)
        assert set(pins) == set(declared), (name, set(pins) ^ set(declared))
        for package, version in pins.items():
            assert declared[package].specifier.contains(version), f"{name}: {package}=={version}, {declared[package]}"


# --- --config names a shipped config --------------------------------------------------------------------------


def test_config_flag_resolves_shipped_names_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    smoke = str(configs.CONFIG_DIR / "smoke.py")
    assert configs.resolve_config_flag(["p", "--config=smoke:test"]) == ["p", f"--config={smoke}:test"]
    assert configs.resolve_config_flag(["p", "--config", "smoke.py"]) == ["p", "--config", smoke]
    assert configs.resolve_config_flag(["p", "--config=experiments/configs/dr.py:tiny", "--workdir=w"]) == [
        "p", f"--config={configs.CONFIG_DIR / 'dr.py'}:tiny", "--workdir=w",
    ]  # fmt: skip


def test_config_flag_keeps_files_and_unknown_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "smoke.py").write_text("def get_config():\n    return {}\n")
    argv = ["p", "--config=smoke.py", "--config.train.num_steps=3"]
    assert configs.resolve_config_flag(argv) == argv  # a file in the working directory wins
    assert configs.resolve_config_flag(["p", "--config=nothing_here"]) == ["p", "--config=nothing_here"]
    with pytest.raises(ValueError, match=r"no shipped config 'nothing_here'; the shipped ones are \[.*'smoke'"):
        configs.config_path("nothing_here")
    with pytest.raises(ValueError, match="no shipped config"):
        configs.config_path("common/../smoke")
    with pytest.raises(ValueError, match="no shipped config 'common'"):  # helpers, not configs
        configs.config_path("common")


def test_a_shipped_name_loads_through_config_flags(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = configs.resolve_config_flag(["p", "--config=smoke:test", "--config.train.num_steps=4"])
    values = flags.FlagValues()
    holder = config_flags.DEFINE_config_file("config", None, flag_values=values, sys_argv=argv)
    values(argv)
    assert holder.value.train.num_steps == 4


# --- without the optional extras ------------------------------------------------------------------------------


def test_beam_build_without_apache_beam_names_the_extra(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "apache_beam", None)
    with pytest.raises(ImportError, match=r"pip install 'ltsh_jax\[beam\]'"):
        build.beam_download_kwargs()
    with pytest.raises(SystemExit) as exit_info:
        build.main(["ltsh_synthetic/tiny", f"--data_dir={os.devnull}", "--beam"])
    assert exit_info.value.code == 2
    assert "ltsh_jax[beam]" in capsys.readouterr().err


def test_imports_work_without_beam_and_moderngl(tmp_path):
    """The library, the builders and the binaries import without the optional packages; rendering then says why not."""
    code = textwrap.dedent("""
        import sys
        sys.modules["apache_beam"] = sys.modules["moderngl"] = None
        import data_builders, data_builders.build, experiments.train, ltsh_jax.data.pipeline
        import ltsh_jax.evaluation.mpii, ltsh_jax.teacher.update, ltsh_jax.train.loop
        from ltsh_jax.synth import render
        try:
            render.create_context()
        except render.RendererUnavailableError as e:
            print(e)
        """)  # fmt: skip
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)},
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert "moderngl is not installed" in run.stdout


def test_renderer_without_egl_names_the_debian_packages(monkeypatch):
    moderngl = pytest.importorskip("moderngl")
    from ltsh_jax.synth import render

    def no_egl(**kwargs):
        raise Exception("eglGetDisplay failed")  # what glcontext raises without libEGL

    monkeypatch.setattr(moderngl, "create_standalone_context", no_egl)
    monkeypatch.setattr(render, "_missing_debian_packages", lambda: ["libegl1", "libgbm1"])
    with pytest.raises(render.RendererUnavailableError, match=r"as root: apt-get install libegl1 libgbm1"):
        render.create_context()


# --- the wheel, installed ---------------------------------------------------------------------------------------


def _run(args: list[str], cwd: pathlib.Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    run = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, f"{args}\n{run.stdout[-2000:]}\n{run.stderr[-3000:]}"
    return run


def _installed_venv(tmp_path: pathlib.Path, env: dict[str, str]) -> pathlib.Path:
    """Builds the wheel from a copy of the shipped sources (the checkout stays clean), installs it with no index
    into a fresh venv whose .pth file points at this venv's site-packages (the pinned dependencies)."""
    source = tmp_path / "source"
    source.mkdir()
    for name in SHIPPED_SOURCES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(src, source / name)
    dist = tmp_path / "dist"
    pip = [sys.executable, "-m", "pip"]
    _run([*pip, "wheel", "--no-build-isolation", "--no-deps", "--no-index", "-q", "-w", str(dist), "."], source, env)
    (wheel,) = dist.glob("ltsh_jax-*.whl")
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path, env)
    python = str(venv / "bin" / "python")
    purelib = _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path, env)
    (pathlib.Path(purelib.stdout.strip()) / "ltsh_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([*pip, "--python", python, "install", "-q", "--no-deps", "--no-index", str(wheel)], tmp_path, env)
    return venv


@pytest.mark.slow
def test_wheel_installs_and_works_outside_the_repository(tmp_path):
    skip_without_egl()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    venv = _installed_venv(tmp_path, env)
    work = tmp_path / "elsewhere"
    work.mkdir()
    python = str(venv / "bin" / "python")

    check = textwrap.dedent(f"""
        import importlib.metadata, pathlib, sys
        import tensorflow_datasets as tfds
        import data_builders, experiments.configs, ltsh_jax
        from ltsh_jax.synth import body_model
        venv, repo = pathlib.Path({str(venv)!r}).resolve(), pathlib.Path({str(REPO)!r}).resolve()
        for module in (ltsh_jax, data_builders, experiments.configs, body_model):
            assert pathlib.Path(module.__file__).resolve().is_relative_to(venv), module.__file__
        assert not any(pathlib.Path(p or ".").resolve() == repo for p in sys.path), sys.path
        assert body_model.ASSET_PATH.is_relative_to(venv) and body_model.load_body_model() is not None
        builder = tfds.builder("ltsh_synthetic/tiny", data_dir="tfds")
        assert pathlib.Path(sys.modules[type(builder).__module__].__file__).is_relative_to(venv)
        print("description:", builder.info.description.splitlines()[0])
        print("config:", experiments.configs.config_path("smoke"))
        dist = importlib.metadata.distribution("ltsh_jax")
        print("commands:", sorted(ep.name for ep in dist.entry_points if ep.group == "console_scripts"))
        print("files:", [str(f) for f in dist.files if f.name.endswith("_test.py") or f.parts[0] == "tests"])
        """)  # fmt: skip
    out = _run([python, "-c", check], work, env).stdout
    assert "description: # ltsh_synthetic (D_S)" in out  # its README.md, read by TFDS, shipped as package data
    assert f"config: {venv}" in out
    assert f"commands: {sorted(COMMANDS)}" in out
    assert "files: []" in out  # no test modules shipped

    # The examples of the README, from the wheel: the teacher transform, MPII scoring, a 2 + 1 image build read
    # with grain (rendering with the body model from the package data).
    teacher, mpii, dataset = readme_examples()
    assert run_example(teacher, work, python, **env).startswith("teacher's probabilities:")
    assert "'mAP': 100.0" in run_example(mpii, work, python, **env)
    lines = [line for line in run_example(dataset, work, python, **env).splitlines() if line.startswith("train/")]
    assert len(lines) == 2

    # The protocol's console command on the files the MPII example wrote.
    cli = _run([str(venv / "bin" / "ltsh-mpii-eval"), "--annotations=gt.json", "--predictions=pred.json",
                "--output=results.json", "--label=wheel"], work, env)  # fmt: skip
    assert "| wheel |" in cli.stdout
    assert json.loads((work / "results.json").read_text())["table"]["mAP"] == 100.0
    # A binary's console command takes a shipped config by name, with overrides, and reaches the data.
    train = subprocess.run(
        [str(venv / "bin" / "ltsh-train"), "--config=smoke:test", "--workdir=run", "--config.data.dir=no_such_folder"],
        cwd=work, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert train.returncode != 0 and "data folder no_such_folder does not exist" in train.stderr, train.stderr[-3000:]
