"""The benchmarks are not run by the tests, but they must at least import: a refactor that
renames what they use fails here instead of at the next measurement."""
import importlib
import pathlib

import pytest

MODULES = sorted(p.stem for p in (pathlib.Path(__file__).parent.parent / "benchmarks").glob("*.py")
                 if p.stem != "__init__")


@pytest.mark.parametrize("name", MODULES)
def test_benchmark_module_imports(name):
    importlib.import_module(f"benchmarks.{name}")
