"""The test registry that the parts tests share (a kind exists once per process)."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import Field

from data_pipeline.parts import NoParams, Params, Registry


class ScaleParams(Params):
    factor: Annotated[float, Field(gt=0.0)] = 1.0
    """How much to scale."""
    offset: int = 0
    """Added after scaling."""


@pytest.fixture(scope="session")
def things() -> Registry[float]:
    """A registry of kind ``test_thing``: ``scaled``, its variant ``doubled``, ``fixed``.

    Session-wide: a kind can be registered once per process.
    """
    parts: Registry[float] = Registry("test_thing", "builder(params, *, x) -> float")

    @parts.register("doubled", params=ScaleParams, defaults={"factor": 2.0})
    @parts.register("scaled", params=ScaleParams)
    def scaled(params: ScaleParams, *, x: float) -> float:
        """Scale x."""
        return params.factor * x + params.offset

    @parts.register("fixed", params=NoParams)
    def fixed(params: NoParams, *, x: float) -> float:
        del params
        return x

    return parts
