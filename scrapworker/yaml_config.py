"""Validated YAML configuration: a pydantic model over a YAML file, every error with its path and line.

The endpoint file and the landings file are both read this way, so a mistake in either is reported the
same way: `endpoints.klines.weight (line 27): Input should be greater than 0`.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

# Pydantic names the branch of a tagged union in an error's location; the file has no such key.
_UNION_TAGS = {"one_shot", "time_window", "offset", "cursor", "int", "str", "bool", "float", "list[...]"}


class ConfigError(ValueError):
    """A configuration file that cannot be used; `problems` holds one 'path (line N): message' per error."""

    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__(f"{source}: {len(problems)} problem(s)\n" + "\n".join(f"  {p}" for p in problems))
        self.problems = problems


def read_yaml(text: str, source: str, expected: str) -> tuple[dict[str, Any], yaml.Node]:
    """The document as data and as nodes (for lines); ConfigError when it is not a YAML mapping."""
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "?"
        raise ConfigError(source, [f"({where}): not valid YAML: {getattr(exc, 'problem', exc)}"]) from None
    if not isinstance(data, dict) or root is None:
        raise ConfigError(source, [f"(line 1): expected a mapping with {expected}"])
    return data, root


def validate[ModelT: BaseModel](
    model: type[ModelT], data: Any, root: yaml.Node, source: str, at: tuple[str | int, ...] = ()
) -> ModelT:
    """`model` validated from `data` (found at path `at` in the file); ConfigError with each error's path
    and line otherwise."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [line for error in exc.errors() for line in _describe({**error, "loc": (*at, *error["loc"])}, root)]
        raise ConfigError(source, problems) from None


def located(loc: list[Any], message: str, root: yaml.Node | None, of_key: bool = False) -> str:
    """'a.b.c (line N): message', with the line of the deepest part of `loc` the file has (of its key,
    with `of_key`: where the key itself is wrong)."""
    dotted = ".".join(str(part) for part in loc) or "(top level)"
    line = _line_of(root, loc, of_key)
    return f"{dotted} (line {line}): {message}" if line else f"{dotted}: {message}"


def _describe(error: Any, root: yaml.Node | None) -> list[str]:
    loc = [part for part in error["loc"] if not (isinstance(part, str) and part in _UNION_TAGS)]
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key"
    if "[key]" in loc:  # the key itself is wrong, not its value
        return [located(loc[: loc.index("[key]")], f"not a valid name: {message}", root, of_key=True)]
    if error["type"] == "value_error" and not loc:
        # Cross-reference errors from a model validator carry their own paths, one per line.
        found = []
        for problem in message.splitlines():
            path, _, text = problem.partition(": ")
            found.append(located([int(p) if p.isdigit() else p for p in path.split(".")], text, root))
        return found
    field, _, rest = message.partition(": ")
    if error["type"] == "value_error" and rest and re.fullmatch(r"[a-z_]+", field):
        loc, message = [*loc, field], rest  # a section's own validator names the field it means
    return [located(loc, message, root)]


def _line_of(node: yaml.Node | None, loc: list[Any], of_key: bool = False) -> int | None:
    """The 1-based line of the YAML node at `loc`, or of the deepest ancestor that exists."""
    line = node.start_mark.line + 1 if node is not None else None
    for depth, part in enumerate(loc, 1):
        if isinstance(node, yaml.MappingNode):
            pair = next(((k, v) for k, v in node.value if k.value == str(part)), None)
            if pair is None:
                break
            if of_key and depth == len(loc):
                return int(pair[0].start_mark.line) + 1
            node = pair[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
        line = node.start_mark.line + 1
    return line
