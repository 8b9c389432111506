"""The part registry kit: named parts that own their parameters, for every kind of part.

What it holds: :mod:`~data_pipeline.parts.params` (the ``Params`` base a part's
parameters derive from), :mod:`~data_pipeline.parts.registry` (``Registry``,
``PartSpec``: names -> params model and builder), :mod:`~data_pipeline.parts.errors`
(unknown names and parameters, with a did-you-mean), :mod:`~data_pipeline.parts.fields`
(config fields that hold a part), :mod:`~data_pipeline.parts.docs` (parameter tables)
and :mod:`~data_pipeline.parts.plugins` (parts from other packages, by entry point).

Why in ``data_pipeline``: that package depends on no other package of the project, so
``models`` (network parts, losses, optimizers) and ``platform`` (inference, config)
import the kit from here without importing anything else of ``data_pipeline``. The kit
needs only pydantic.

``registry(kind)``, the lookup of a kind's registry, is imported from
``data_pipeline.parts.registry``: re-exported here, the function would hide its module
(``import data_pipeline.parts.registry`` and ``mock.patch`` targets would find it instead).
"""

from __future__ import annotations

from data_pipeline.parts.docs import ParamDoc, describe, render_markdown, render_text, type_text
from data_pipeline.parts.errors import (
    SYNONYMS,
    DuplicateNameError,
    ParamsError,
    UnknownNameError,
    did_you_mean,
)
from data_pipeline.parts.fields import Part, PartOf, part_mapping, switch_part
from data_pipeline.parts.params import NoParams, Params, as_tuple, int_keys
from data_pipeline.parts.plugins import PLUGIN_GROUP, PluginError, load_plugins
from data_pipeline.parts.registry import (
    Entry,
    PartSpec,
    Registry,
    has_registry,
    kinds,
    value_text,
)

__all__ = [
    "PLUGIN_GROUP",
    "SYNONYMS",
    "DuplicateNameError",
    "Entry",
    "NoParams",
    "ParamDoc",
    "Params",
    "ParamsError",
    "Part",
    "PartOf",
    "PartSpec",
    "PluginError",
    "Registry",
    "UnknownNameError",
    "as_tuple",
    "describe",
    "did_you_mean",
    "has_registry",
    "int_keys",
    "kinds",
    "load_plugins",
    "part_mapping",
    "render_markdown",
    "render_text",
    "switch_part",
    "type_text",
    "value_text",
]
