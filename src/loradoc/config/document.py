"""Read a config file as YAML, safely, remembering where each key was.

Returns the parsed document, the line of every mapping key (for messages like
``line 12: unknown key ...``), and any key given twice in one mapping (YAML
would silently keep the last). Every failure is a one-line ConfigError naming
the file: missing, unreadable, not UTF-8, too large, malformed YAML (with line
and column), or built to explode (thousands of aliases, deep nesting).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
import yaml.reader
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, ScalarNode

from loradoc.config.problems import ConfigError, Problem

MAX_BYTES = 1 << 20  # a training config is a page of text, not a megabyte
MAX_ALIASES = 100


class _TooComplex(Exception):
    pass


class _Loader(yaml.SafeLoader):
    """SafeLoader that records key lines and duplicate keys, and caps alias use."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.key_lines: dict[int, dict[str, int]] = {}
        self.duplicates: list[Problem] = []
        self.aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise _TooComplex(f"more than {MAX_ALIASES} aliases (*name)")
        return super().compose_node(parent, index)

    def construct_tracked_map(self, node: MappingNode) -> Any:
        data: dict[Any, Any] = {}
        yield data
        data.update(self.construct_mapping(node))
        lines: dict[str, int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, ScalarNode):
                continue
            line = key_node.start_mark.line + 1
            name = str(key_node.value)
            if name in lines and name != "<<":
                self.duplicates.append(
                    Problem(
                        f"key '{name}' is given twice (also on line {lines[name]}); keep one",
                        key=name,
                        line=line,
                    )
                )
            lines.setdefault(name, line)
            if name != "<<":
                key = self.construct_object(key_node)  # built already (cached): `null:` is None, `true:` True
                if not isinstance(key, str):
                    lines.setdefault(str(key), line)  # where the loader looks up a key that is not a name
        self.key_lines[id(data)] = lines


_Loader.add_constructor("tag:yaml.org,2002:map", _Loader.construct_tracked_map)


def read_config_document(path: Path) -> tuple[Any, dict[int, dict[str, int]], list[Problem]]:
    """Parse ``path``; return (document, key lines by mapping id, duplicate-key problems)."""
    source = str(path)
    try:
        with path.open("rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            # never more than MAX_BYTES + 1 bytes: a huge file (or /dev/zero) is refused unread
            raw = b"" if size > MAX_BYTES else fh.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(["config file not found"], source=source) from None
    except IsADirectoryError:
        raise ConfigError(["is a folder; give the config file (.yml) inside it"], source=source) from None
    except OSError as exc:
        raise ConfigError([f"cannot read the config ({exc.strerror or exc})"], source=source) from None
    if size > MAX_BYTES or len(raw) > MAX_BYTES:
        what = f"{size} bytes" if size > MAX_BYTES else f"more than {MAX_BYTES} bytes"
        raise ConfigError(
            [f"the config is {what}; a training config is under {MAX_BYTES} bytes"], source=source
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            [f"line {line}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the file as UTF-8"],
            source=source,
        ) from None
    return parse_config_text(text, source)


def parse_config_text(
    text: str, source: str | None = None
) -> tuple[Any, dict[int, dict[str, int]], list[Problem]]:
    """Parse YAML text the way :func:`read_config_document` does."""
    loader: _Loader | None = None
    try:
        loader = _Loader(text)  # the reader rejects control characters here, before parsing
        data = loader.get_single_data()
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        raise ConfigError(
            [f"line {line}: invalid YAML: character #x{exc.character:04x} is not allowed in YAML text"],
            source=source,
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        what = exc.problem or exc.context or "malformed YAML"
        raise ConfigError([f"{where}invalid YAML: {what}"], source=source) from None
    except yaml.YAMLError as exc:
        raise ConfigError(
            [f"invalid YAML: {str(exc).splitlines()[0] if str(exc) else 'malformed'}"], source=source
        ) from None
    except _TooComplex as exc:
        raise ConfigError([f"the YAML uses {exc}; write the values out"], source=source) from None
    except RecursionError:
        raise ConfigError(["the YAML is nested too deeply"], source=source) from None
    except ValueError:  # an integer with more digits than Python converts (int_max_str_digits)
        raise ConfigError(["invalid YAML: a number too long to read"], source=source) from None
    finally:
        if loader is not None:
            loader.dispose()
    return data, loader.key_lines, loader.duplicates
