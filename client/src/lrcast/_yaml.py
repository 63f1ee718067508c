"""Reading YAML for the ``lrcast`` command: PyYAML's safe loader with YAML 1.2's floats.

PyYAML follows YAML 1.1, where a float needs a dot: ``5e-5`` and ``1e3`` would be read as
strings, and a schedule refused as "must be a valid number". Here they are floats, as in JSON
and in the dashboard's YAML (js-yaml, YAML 1.2). Everything else reads as ``yaml.safe_load``
reads it (``1_000`` stays an integer), except that a mapping may not repeat a key (PyYAML keeps
the last silently; JSON input is refused the same way) nor have an integer key written other
than as its decimal digits (``0x10``, ``010``, ``1_000``, ``1:30``: the name would not be the
text written).
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from typing import Any

import yaml

_FLOAT = re.compile(
    r"""^(?:
        [-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?         # 1.5  1.  1.5e-3
      | [-+]?\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?                # .5  .5e3
      | [-+]?[0-9][0-9_]*[eE][-+]?[0-9]+                      # 5e-5  1E3 (YAML 1.2)
      | [-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*           # 1:30.5 (YAML 1.1, as before)
      | [-+]?\.(?:inf|Inf|INF)
      | \.(?:nan|NaN|NAN)
    )$""",
    re.VERBOSE,
)
_FLOAT_TAG = "tag:yaml.org,2002:float"
_INT_TAG = "tag:yaml.org,2002:int"
_MERGE_TAG = "tag:yaml.org,2002:merge"


class Loader(yaml.SafeLoader):
    """``yaml.SafeLoader`` reading ``5e-5`` as a float and refusing repeated keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Hashable] = set()
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:  # ``<<: *base`` then keys of its own: legal
                continue
            key = self.construct_object(key_node, deep=deep)
            mark = key_node.start_mark
            if key_node.tag == _INT_TAG and isinstance(key, int) and str(key) != key_node.value:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"the key {key_node.value!r} reads as the number {key}; quote it to use "
                    "it as a name",
                    mark,
                )
            if isinstance(key, Hashable):
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"the key {key!r} appears twice in one mapping", mark
                    )
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _use_yaml_12_floats() -> None:
    resolvers = {
        first: [(tag, regexp) for tag, regexp in entries if tag != _FLOAT_TAG]
        for first, entries in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    Loader.yaml_implicit_resolvers = resolvers
    Loader.add_implicit_resolver(_FLOAT_TAG, _FLOAT, list("-+0123456789."))


_use_yaml_12_floats()


def load_all(text: str) -> list[Any]:
    """Every document in ``text`` (empty ones left out); raises ``yaml.YAMLError``."""
    return [doc for doc in yaml.load_all(text, Loader=Loader) if doc is not None]
