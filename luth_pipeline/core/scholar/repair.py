"""Turn an LLM reply into a validated pydantic object, repairing the JSON when it still breaks.

Structured output makes most replies valid, but upstream's Gemini replies broke in three
recurring ways, all handled here, in this order:
1. LaTeX backslashes left unescaped inside JSON strings (`"\\frac{1}{2}"` written as `"\frac…"`):
   invalid escapes fail to parse, and worse, `\tau`/`\frac`/`\beta` parse silently as a TAB,
   form feed or backspace. Known LaTeX commands (pylatexenc's macro table) get their backslash
   doubled before parsing.
2. Anything else malformed (code fences, trailing commas, single quotes, a reply cut at max
   tokens): `json_repair`, which closes what was left open.
3. The shape: a bare list where an object with one list field was asked for is wrapped, and
   list items are validated one by one so a truncated last item drops alone.
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
    method: str  # "clean" | "latex_escapes" | "json_repair" | "failed"
    dropped_items: int = 0
    error: str | None = None


def _candidates(text: str):
    stripped = text.strip()
    fenced = re.match(r"^```(?:json)?\s*(.*?)\s*```$", stripped, re.DOTALL)
    if fenced:
        stripped = fenced.group(1)
    fixed = fix_latex_escapes(stripped)
    if fixed == stripped:
        yield "clean", lambda: json.loads(stripped)
    else:
        yield "latex_escapes", lambda: json.loads(fixed)
    yield "json_repair", lambda: json_repair.loads(fixed)


def _single_list_field(model: type[BaseModel]) -> str | None:
    fields = [name for name, f in model.model_fields.items() if getattr(f.annotation, "__origin__", None) is list]
    return fields[0] if len(model.model_fields) == 1 and fields else None


def _validate(model: type[T], data) -> tuple[T, int]:
    list_field = _single_list_field(model)
    if list_field is None:
        return model.model_validate(data), 0
    if isinstance(data, list):
        data = {list_field: data}
    if not isinstance(data, dict) or not isinstance(data.get(list_field), list):
        raise ValueError(f"expected an object with a `{list_field}` list")
    item_model = model.model_fields[list_field].annotation.__args__[0]
    kept, dropped = [], 0
    for item in data[list_field]:
        try:
            kept.append(item_model.model_validate(item))
        except ValidationError:
            dropped += 1  # e.g. the last item of a reply cut at max tokens
    return model.model_validate({list_field: kept}), dropped


def parse_reply(text: str, model: type[T]) -> ParsedReply[T]:
    """The reply as a `model`, with how it had to be repaired (or why it could not be)."""
    if not text.strip():
        return ParsedReply(None, "failed", error="empty reply")
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
