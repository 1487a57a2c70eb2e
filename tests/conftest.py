"""Shared fixtures: bundled models compiled once per test process."""

from __future__ import annotations

import functools
import shutil

import numpy as np
import pytest

import tvm_stm32dvfs
from tvm_stm32dvfs.models.zoo import ZOO


@functools.lru_cache(maxsize=None)
def compiled_zoo_model(name: str):
    mod, params = tvm_stm32dvfs.from_onnx(ZOO[name].path)
    return tvm_stm32dvfs.build(mod, params=params, model_name=name)


@pytest.fixture(params=sorted(ZOO))
def zoo_name(request) -> str:
    return request.param


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def zoo_model():
    """``zoo_model(name)`` -> the bundled model compiled for the default board (cached)."""
    return compiled_zoo_model


@pytest.fixture(scope="session")
def tool():
    """``tool(name)`` -> path of an external tool; its absence fails the test."""
    return require_tool


def require_tool(name: str) -> str:
    """Path of an external tool that `make test` installs; its absence is a setup error, not a skip."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run `make test`, which installs it with apt-get")
    return path
