"""Setuptools hook (everything else is in pyproject.toml): the builders' tests, kept beside each builder as TFDS
lays them out (`*_test.py`, `conftest.py`), stay out of the wheel, like the `tests/` folder."""

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithoutTests(build_py):
    """build_py that skips test modules inside the shipped packages."""

    def find_package_modules(self, package: str, package_dir: str) -> list[tuple[str, str, str]]:
        modules = super().find_package_modules(package, package_dir)
        return [(pkg, name, file) for pkg, name, file in modules if not (name.endswith("_test") or name == "conftest")]


setup(cmdclass={"build_py": BuildPyWithoutTests})
