"""The one way edgeq reads YAML: safe, strict about duplicates, validated on load.

Every failure, from a missing file to a wrong type three levels deep, becomes a
single-line ConfigError that names the file, the key path, what was expected and
what was found. Nothing else escapes for bad input, so the CLI can print the
message and exit 2 without a traceback.
"""

from __future__ import annotations

import difflib
import enum
import reprlib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError

from edgeq.errors import ConfigError

__all__ = ["FileRecord", "Record", "StrictLoader", "describe_error", "load_model", "load_yaml", "parse_yaml",
           "validate"]

M = TypeVar("M", bound=BaseModel)

_FOUND_MAX = 60
MAX_YAML_BYTES = 1 << 20
"""A board or recipe file is a few kilobytes; a bigger one is a mistake (or an attack), refused unread."""
MAX_YAML_NODES = 100_000
"""Values a file may expand to once aliases are followed: `[*a, *a, ...]` nine deep is 10^9 of them."""
_KEY_ERRORS = ("extra_forbidden", "invalid_key")


class Record(BaseModel):
    """Base for every schema model: unknown keys are errors, loaded values are read-only.

    A typo in a key must fail loudly rather than leave a default silently in place.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)


class FileRecord(Record):
    """A record that is a whole YAML file; `source` is the file it came from.

    `source` is a private attribute, not a field, so a YAML file cannot set it; it is
    None for records built by `validate()` from data that never was a file.
    """

    _source: Path | None = PrivateAttr(default=None)

    @property
    def source(self) -> Path | None:
        return self._source


class StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects a mapping key given twice.

    PyYAML keeps the last value of a duplicate key without a word, which hides
    copy-paste mistakes in board and recipe files.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        # Check each node once: SafeLoader flattens `<<` merges into node.value in
        # place, after which merged and explicit keys legitimately repeat.
        checked: set[int] = self.__dict__.setdefault("_edgeq_checked", set())
        if id(node) not in checked:
            checked.add(id(node))
            self._reject_duplicates(node)
        return super().construct_mapping(node, deep=deep)

    def flatten_mapping(self, node: yaml.MappingNode) -> None:
        """Resolve `<<` merges as the YAML merge-key spec says, whatever PyYAML's version.

        PyYAML 6.0.2+ (which labgrid, in the farm extra, requires) drops a merged key when
        another merged key's text is the same object, and one-letter strings always are in
        CPython: `z: {<<: *x}` then lost `x`'s own override of a key `x` itself merged.
        Explicit keys win over merged ones; of several merged maps, the first wins.
        """
        merged: list[tuple[yaml.Node, yaml.Node]] = []
        own: list[tuple[yaml.Node, yaml.Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag != "tag:yaml.org,2002:merge":
                if key_node.tag == "tag:yaml.org,2002:value":
                    key_node.tag = "tag:yaml.org,2002:str"
                own.append((key_node, value_node))
                continue
            sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            for source in reversed(sources):  # later pairs override earlier ones when the dict is built
                if not isinstance(source, yaml.MappingNode):
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping", node.start_mark,
                        f"expected a mapping (or a list of mappings) to merge, found {source.id}", source.start_mark)
                self.flatten_mapping(source)
                merged.extend(source.value)
        node.value = merged + own

    def _reject_duplicates(self, node: yaml.MappingNode) -> None:
        first_line: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *base` may be overridden by explicit keys, by design
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                continue  # SafeLoader reports unhashable keys itself
            line = key_node.start_mark.line + 1
            if key in first_line:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (first given at line {first_line[key]})",
                    key_node.start_mark,
                )
            first_line[key] = line


def load_yaml(path: str | Path) -> Any:
    """Parse one YAML file with StrictLoader; any failure is a one-line ConfigError.

    The file's size and the number of values its aliases expand to are bounded before
    anything is built: validation and error messages walk the expanded value, so a
    "billion laughs" file would otherwise take minutes and gigabytes.
    """
    path = Path(path)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_YAML_BYTES + 1)
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, expected a YAML file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_YAML_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_YAML_BYTES >> 20} MB; a board or recipe file is a few KB")
    return parse_yaml(text, str(path))


def parse_yaml(text: str, source: str) -> Any:
    """Parse YAML text as load_yaml does (duplicate keys, alias expansion bounded); `source` names it."""
    loader = None
    try:
        loader = StrictLoader(text)  # its reader refuses control characters already here
        node = loader.get_single_node()
        if node is None:
            return None
        expanded = _expanded_size(node)
        if expanded > MAX_YAML_NODES:
            raise ConfigError(f"{source}: its aliases expand to more than {MAX_YAML_NODES:,} values "
                              "(a YAML bomb?); write the values out")
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        raise ConfigError(_yaml_message(source, exc)) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: invalid YAML: {' '.join(str(exc).split())}") from None
    except RecursionError:
        raise ConfigError(f"{source}: invalid YAML: nested too deeply") from None
    finally:
        if loader is not None:
            loader.dispose()


def _expanded_size(root: yaml.Node) -> int:
    """How many values the document holds with every alias followed, counted without building them.

    Each node's size is computed once (an alias is the same node object again), so the count
    costs the document's size however large the expansion; it stops growing past the bound.
    """
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        if isinstance(node, yaml.ScalarNode):
            sizes[id(node)] = 1
            continue
        children = [c for pair in node.value for c in pair] if isinstance(node, yaml.MappingNode) else node.value
        if not children_done:
            stack.append((node, True))
            stack.extend((child, False) for child in children if id(child) not in sizes)
            continue
        sizes[id(node)] = min(MAX_YAML_NODES + 1, 1 + sum(sizes.get(id(c), 1) for c in children))
    return sizes[id(root)]


def _yaml_message(path: str, exc: yaml.MarkedYAMLError) -> str:
    mark = exc.problem_mark or exc.context_mark
    where = f"{path}:{mark.line + 1}" if mark else str(path)
    if isinstance(exc, yaml.constructor.ConstructorError) and exc.problem and "duplicate key" in exc.problem:
        return f"{where}: {exc.problem}"
    problem = exc.problem or exc.context or "invalid YAML"
    context = f" ({exc.context})" if exc.context and exc.problem else ""
    return f"{where}: invalid YAML: {problem}{context}"


def load_model(path: str | Path, model_cls: type[M]) -> M:
    """Load a YAML file whose top level is a mapping and validate it as `model_cls`.

    A FileRecord result remembers `path` as its `source`, so relative paths in it
    can later be resolved against the file that named them.
    """
    path = Path(path)
    data = load_yaml(path)
    if data is None:
        raise ConfigError(f"{path}: file is empty, expected a mapping of keys to values")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys to values at the top level, found {_found(data)}")
    record = validate(data, model_cls, str(path))
    if isinstance(record, FileRecord):
        record._source = path
    return record


def validate(data: Any, model_cls: type[M], source: str) -> M:
    """Validate already-parsed data; the first problem becomes a one-line ConfigError.

    `source` names where the data came from (a file, "--set", "recipe.boards[2]") and
    starts the message.
    """
    try:
        return model_cls.model_validate(data)
    except ValidationError as exc:
        # An unknown key is usually a typo that also causes a "missing" error for the
        # key it meant; the unknown key, with its suggestion, is the one to show.
        errors = sorted(exc.errors(include_url=False), key=lambda e: e["type"] not in _KEY_ERRORS)
        message = f"{source}: {describe_error(errors[0], model_cls)}"
        if len(errors) > 1:
            more = len(errors) - 1  # "more problems", not more of the valid keys the message may end with
            message += f" (and {more} more problem{'s' if more > 1 else ''})"
        raise ConfigError(message) from None


def describe_error(error: Mapping[str, Any], model_cls: type[BaseModel]) -> str:
    """Turn one pydantic error into "key.path: what is wrong" in a user's words."""
    loc = tuple(error["loc"])
    kind = error["type"]
    found = error.get("input")
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        return _prefix(loc[:-1]) + _unknown_key(str(loc[-1]), _keys_at(model_cls, loc[:-1]))
    if kind == "missing":
        return _prefix(loc[:-1]) + f"missing required key {loc[-1]!r}"
    if kind == "invalid_key":
        return _prefix(loc[:-1]) + f"keys must be text, found key {_found(found)}"
    if kind in ("literal_error", "enum"):
        choices = _choices_at(model_cls, loc)
        hint = _closest(str(found), choices)
        hint = f"; did you mean {hint!r}?" if hint else "."
        return _prefix(loc) + f"unknown value {_found(found)}{hint} Choose from: {', '.join(choices)}"
    if kind in ("value_error", "assertion_error"):
        return _prefix(loc) + str(ctx.get("error") or error["msg"])
    return _prefix(loc) + f"expected {_expected(kind, ctx, error['msg'])}, found {_found(found)}"


_EXPECTED = {
    **dict.fromkeys(("string_type",), "text"),
    **dict.fromkeys(("int_type", "int_parsing", "int_from_float"), "a whole number"),
    **dict.fromkeys(("float_type", "float_parsing"), "a number"),
    **dict.fromkeys(("bool_type", "bool_parsing"), "true or false"),
    **dict.fromkeys(("list_type", "tuple_type", "set_type"), "a list"),
    **dict.fromkeys(("dict_type", "model_type", "model_attributes_type"), "a mapping"),
}
_BOUNDS = {"greater_than_equal": "ge", "greater_than": "gt", "less_than_equal": "le", "less_than": "lt"}
_SIGNS = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}


def _expected(kind: str, ctx: Mapping[str, Any], msg: str) -> str:
    if kind in _EXPECTED:
        return _EXPECTED[kind]
    if kind in _BOUNDS:
        bound = _BOUNDS[kind]
        return f"a number {_SIGNS[bound]} {ctx.get(bound)}"
    if kind in ("string_too_short", "too_short"):
        text = kind == "string_too_short"
        if ctx.get("min_length") == 1:
            return "non-empty text" if text else "a non-empty list"
        return f"at least {ctx.get('min_length')} {'characters' if text else 'items'}"
    if kind == "string_pattern_mismatch":
        return f"text matching {ctx.get('pattern')}"
    # Pydantic's own words, recast: "Input should be a valid date" -> "a valid date".
    return msg.removeprefix("Input should be ").split(",")[0]


def _prefix(loc: tuple[Any, ...]) -> str:
    """Render a key path as `cpu.clusters[1].cores[0]: `, or nothing at the top."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return f"{text}: " if text else ""


_SHORT = reprlib.Repr()
"""repr() bounded in depth and width: the value may be huge (a list of a million items)."""
_SHORT.maxlevel, _SHORT.maxdict, _SHORT.maxlist, _SHORT.maxtuple, _SHORT.maxset = 2, 4, 4, 4, 4
_SHORT.maxstring = _SHORT.maxother = _SHORT.maxlong = _FOUND_MAX


def _found(value: Any) -> str:
    if value is None:
        return "null (YAML reads an empty value and a bare ~ as null; quote text)"
    text = _SHORT.repr(value)
    return text if len(text) <= _FOUND_MAX else text[: _FOUND_MAX - 3] + "..."


def _unknown_key(key: str, valid: list[str]) -> str:
    hint = _closest(key, valid)
    if hint:
        return f"unknown key {key!r}; did you mean {hint!r}?"
    if not valid:
        return f"unknown key {key!r}"
    return f"unknown key {key!r}. Valid keys: {', '.join(valid)}"


def _closest(word: str, choices: list[str]) -> str | None:
    matches = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return matches[0] if matches else None


def _keys_at(model_cls: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Valid keys of the model found by following `loc` from `model_cls`."""
    target = _strip(_annotation_at(model_cls, loc))
    if not (isinstance(target, type) and issubclass(target, BaseModel)):
        return []
    return [field.alias or name for name, field in target.model_fields.items()]


def _choices_at(model_cls: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    choices: list[str] = []
    for member in _union_members(_strip(_annotation_at(model_cls, loc))):
        if typing.get_origin(member) is typing.Literal:
            choices += [str(arg) for arg in typing.get_args(member)]
        elif isinstance(member, type) and issubclass(member, enum.Enum):
            choices += [str(item.value) for item in member]
    return choices


def _annotation_at(model_cls: type[BaseModel], loc: tuple[Any, ...]) -> Any:
    """Follow a pydantic error location through the type annotations of `model_cls`."""
    current: Any = model_cls
    for part in loc:
        current = _strip(current)
        origin = typing.get_origin(current)
        if isinstance(part, str) and isinstance(current, type) and issubclass(current, BaseModel):
            field = next((f for n, f in current.model_fields.items() if part in (n, f.alias)), None)
            if field is None:
                return None
            current = field.annotation
        elif isinstance(part, int) and origin in (list, tuple, set, frozenset):
            current = typing.get_args(current)[0]
        elif origin is dict:
            current = typing.get_args(current)[1]
        else:
            return None
    return current


def _strip(annotation: Any) -> Any:
    """Drop Annotated and Optional wrappers; leave real unions alone."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
            continue
        if origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(members) == 1:
                annotation = members[0]
                continue
        return annotation


def _union_members(annotation: Any) -> list[Any]:
    is_union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    return [_strip(a) for a in typing.get_args(annotation)] if is_union else [annotation]
