"""Turn an LLM reply into a validated pydantic object, repairing the JSON when it still breaks.

Structured output makes most replies valid, but upstream's Gemini replies broke in three
recurring ways, all handled here, in this order:
1. LaTeX backslashes left unescaped inside JSON strings (`"\\frac{1}{2}"` written as `"\frac…"`):
   invalid escapes fail to parse, and worse, `\tau`/`\frac`/`\beta` parse silently as a TAB,
   form feed or backspace. Known LaTeX commands (pylatexenc's macro table) get their backslash
   doubled before parsing.
2. Anything else malformed (code fences, trailing commas, single quotes): `json_repair`, which
   closes what was left open.
3. The shape: a bare list where an object with one list field was asked for is wrapped, and
   list items are validated one by one so one malformed item drops alone (and is counted).

A reply cut at max tokens is not repaired: only its items written out whole are kept and the
cut lists are named, so the chain rejects what was lost instead of keeping a half item.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from typing import Generic, TypeVar

import json_repair
from pydantic import BaseModel, ValidationError

T = TypeVar("T", bound=BaseModel)

# JSON's own one-letter escapes; `\u` is followed by 4 hex digits.
_JSON_ESCAPES = set('"\\/bfnrtu')
_BACKSLASH_RUN = re.compile(r"\\(\\|[A-Za-z]+|.)", re.DOTALL)
_ITEM_SEPARATOR = re.compile(r"\s*,?\s*")


@cache
def _latex_macros() -> frozenset[str]:
    from pylatexenc.latexwalker import get_default_latex_context_db

    db = get_default_latex_context_db()
    names = {spec.macroname for category in db.categories() for spec in db.iter_macro_specs([category])}
    # Common maths commands pylatexenc knows only as "unknown macro": still LaTeX, not escapes.
    names |= {"frac", "dfrac", "tfrac", "sqrt", "times", "cdot", "leq", "geq", "neq", "infty", "mathbb", "mathcal",
              "mathrm", "left", "right", "lim", "sum", "int", "prod", "log", "ln", "exp", "sin", "cos", "tan",
              "alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "theta", "lambda", "mu", "nu", "pi", "rho",
              "sigma", "tau", "phi", "varphi", "omega", "Delta", "Omega", "nabla", "partial", "in", "notin", "forall",
              "exists", "subset", "cup", "cap", "to", "mapsto", "rightarrow", "Rightarrow", "iff", "vec", "overline",
              "underline", "lceil", "rceil", "lfloor", "rfloor", "binom", "ldots", "cdots", "approx", "equiv", "pm",
              "text", "textbf", "operatorname", "quad", "qquad", "displaystyle", "begin", "end", "hline", "newline"}
    return frozenset(names)


def fix_latex_escapes(text: str) -> str:
    """Double the backslash of LaTeX commands written raw inside JSON text.

    `\\n` followed by letters stays a newline unless the whole letter run is a LaTeX command
    (`\\nabla`, `\\neq`): a newline before a French word never forms one.
    """
    macros = _latex_macros()

    def fix(match: re.Match) -> str:
        token = match.group(1)
        if token == "\\":
            return match.group(0)  # an already escaped backslash
        if token.isalpha():
            if token in macros and not (len(token) == 1 and token in _JSON_ESCAPES):
                return "\\\\" + token
            if token[0] in _JSON_ESCAPES:
                return match.group(0)  # \n, \t… followed by ordinary letters
            return "\\\\" + token  # an unknown command is still not a JSON escape
        if token in _JSON_ESCAPES:
            return match.group(0)
        return "\\\\" + token  # `\{`, `\,`, `\;`: LaTeX spacing/braces, never valid JSON

    return _BACKSLASH_RUN.sub(fix, text)


@dataclass
class ParsedReply(Generic[T]):
    value: T | None
    method: str  # "clean" | "latex_escapes" | "json_repair" | "complete_items" | "failed"
    dropped_items: int = 0  # list items that did not match the schema
    error: str | None = None
    truncated: bool = False  # the reply stopped at max tokens: `value` holds only the items written out whole
    cut_lists: tuple[str, ...] = ()  # list fields the cut left open (items after the last whole one are lost)


def _unfenced(text: str) -> str:
    stripped = text.strip()
    fenced = re.match(r"^```(?:json)?\s*(.*?)\s*(?:```)?$", stripped, re.DOTALL)
    return fenced.group(1) if fenced else stripped


def _candidates(text: str):
    stripped = _unfenced(text)
    fixed = fix_latex_escapes(stripped)
    if fixed == stripped:
        yield "clean", lambda: json.loads(stripped)
    else:
        yield "latex_escapes", lambda: json.loads(fixed)
    yield "json_repair", lambda: json_repair.loads(fixed)


def list_fields(model: type[BaseModel]) -> list[str]:
    """The model's fields that hold a list of sub-models (the items a step returns)."""
    return [name for name, f in model.model_fields.items()
            if getattr(f.annotation, "__origin__", None) is list and _item_model(model, name) is not None]


def _item_model(model: type[BaseModel], name: str) -> type[BaseModel] | None:
    args = getattr(model.model_fields[name].annotation, "__args__", ())
    return args[0] if args and isinstance(args[0], type) and issubclass(args[0], BaseModel) else None


def _validate(model: type[T], data) -> tuple[T, int]:
    lists = list_fields(model)
    if isinstance(data, list) and len(lists) == 1 == len(model.model_fields):
        data = {lists[0]: data}
    if not lists:
        return model.model_validate(data), 0
    if not isinstance(data, dict) or not all(isinstance(data.get(name), list) for name in lists):
        raise ValueError(f"expected an object with the lists {', '.join(f'`{n}`' for n in lists)}")
    data, dropped = dict(data), 0
    for name in lists:
        item_model, kept = _item_model(model, name), []
        for item in data[name]:
            try:
                kept.append(item_model.model_validate(item))
            except ValidationError:
                dropped += 1  # one malformed item drops alone (the structural checks then see it missing)
        data[name] = kept
    return model.model_validate(data), dropped


def complete_list_items(text: str, field: str) -> tuple[list, bool] | None:
    """The items of the JSON list `field` that a (possibly cut) reply writes out whole, and
    whether the list was closed; None when the list does not start in the text.

    A reply cut at max tokens ends inside some item: `json_repair` would close that item's open
    string and hand back a context that stops mid-formula as if it were complete. Here each item
    is decoded strictly, one after the other, and the first one that does not decode ends the list.
    """
    body = fix_latex_escapes(_unfenced(text))
    start = re.search(r'"%s"\s*:\s*\[' % re.escape(field), body)
    if start is None:
        return None
    decoder, position, items = json.JSONDecoder(), start.end(), []
    while True:
        position = _ITEM_SEPARATOR.match(body, position).end()
        if body.startswith("]", position):
            return items, True
        try:
            item, position = decoder.raw_decode(body, position)
        except ValueError:
            return items, False
        items.append(item)


def _parse_cut(text: str, model: type[T]) -> ParsedReply[T]:
    """A reply cut at max tokens: only what was written out whole counts, never a repaired tail."""
    lists = list_fields(model)
    found = {name: complete_list_items(text, name) for name in lists}
    if not lists or len(lists) != len(model.model_fields) or found[lists[0]] is None:
        # A single object (a refined exercise) or an unreadable start: nothing whole to keep.
        return ParsedReply(None, "failed", error="reply cut at max tokens before it was complete", truncated=True)
    data = {name: f[0] if f else [] for name, f in found.items()}
    cut = tuple(name for name, f in found.items() if f is None or not f[1])
    value, dropped = _validate(model, data)
    return ParsedReply(value, "complete_items", dropped, truncated=True, cut_lists=cut)


def parse_reply(text: str, model: type[T], truncated: bool = False) -> ParsedReply[T]:
    """The reply as a `model`, with how it had to be repaired (or why it could not be).

    `truncated`: the model stopped at max tokens (finish reason "length"). List replies keep
    only their items written out whole and say which lists were cut; anything else fails.
    """
    if not text.strip():
        return ParsedReply(None, "failed", error="empty reply", truncated=truncated)
    if truncated:
        return _parse_cut(text, model)
    error = "no JSON found"
    for method, load in _candidates(text):
        try:
            data = load()
        except (ValueError, RecursionError) as exc:
            error = f"{method}: {exc}"
            continue
        if data in ("", None, [], {}) and method == "json_repair":
            error = f"no JSON in the reply (starts with {text.strip()[:60]!r})"
            break  # json_repair returns "" when it finds nothing JSON-like
        try:
            value, dropped = _validate(model, data)
        except (ValidationError, ValueError) as exc:
            error = f"{method}: does not match {model.__name__}: {str(exc).splitlines()[0]}"
            continue
        return ParsedReply(value, method, dropped)
    return ParsedReply(None, "failed", error=error)
