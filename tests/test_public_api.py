"""The public surface stays small and honest."""

from __future__ import annotations

import importlib
from inspect import ismodule
from pathlib import Path

import pytest


@pytest.mark.parametrize("package", ["lrcast"])
def test_all_is_unique_and_every_name_exists(package: str) -> None:
    # The order is ruff's (RUF022, isort-style), checked by the linter.
    module = importlib.import_module(package)
    names = module.__all__
    assert len(set(names)) == len(names)
    for name in names:
        assert hasattr(module, name), name


def test_public_names_are_exactly_all() -> None:
    import lrcast

    # Submodules (lrcast.torch, lrcast.cli, ...) appear as attributes once imported.
    public = {n for n, v in vars(lrcast).items() if not n.startswith("_") and not ismodule(v)} | {
        "__version__"
    }
    assert public == set(lrcast.__all__)


def test_packages_ship_py_typed() -> None:
    import lrcast

    assert (Path(lrcast.__file__).parent / "py.typed").exists()


def test_lrcast_imports_no_server_or_framework() -> None:
    import subprocess
    import sys

    code = (
        "import sys, lrcast; "
        "bad = [m for m in ('fastapi', 'sqlalchemy', 'torch', 'tensorflow', 'keras') "
        "if m in sys.modules]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
