"""Prompt templates from `configs/prompts/*.yaml`: a system message and a user template whose
`{{name}}` placeholders are replaced literally (code and LaTeX braces need no escaping)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    system: str | None
    user: str

    @classmethod
    def load(cls, directory: Path, name: str) -> "PromptTemplate":
        path = Path(directory) / f"{name}.yaml"
        if not path.is_file():
            raise FileNotFoundError(f"prompt template {path} does not exist (check the stage's prompts directory or prompt name in the profile)")
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        unknown = set(data) - {"system", "user"}
        if "user" not in data or unknown:
            raise ValueError(f"{path}: a prompt template has a `user` key and an optional `system` key"
                             + (f" (unknown: {sorted(unknown)})" if unknown else ""))
        return cls(name=name, system=data.get("system"), user=data["user"])

    def render(self, **values: str) -> tuple[dict[str, str], ...]:
        needed = set(_PLACEHOLDER.findall(self.user))
        if needed != set(values):
            raise ValueError(f"prompt template {self.name!r} needs {sorted(needed)}, got {sorted(values)}")
        user = _PLACEHOLDER.sub(lambda m: values[m.group(1)], self.user)
        system = ({"role": "system", "content": self.system},) if self.system else ()
        return system + ({"role": "user", "content": user},)
