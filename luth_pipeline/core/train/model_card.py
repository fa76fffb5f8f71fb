"""The model card (README.md) of a fine-tuned checkpoint: where its data came from, how it was trained."""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml


@dataclass
class ModelCard:
    name: str
    base_model: str  # hub id or local path of the starting weights
    engine: str
    hyperparameters: dict
    results: dict
    lineage: dict  # datasets, partitions, data versions, row/token counts
    language: list[str] = field(default_factory=lambda: ["fr", "en"])
    license: str = "apache-2.0"

    def render(self) -> str:
        front = {
            "base_model": self.base_model,
            "language": self.language,
            "license": self.license,
            "library_name": "transformers",
            "pipeline_tag": "text-generation",
            "tags": ["luth", "french", "sft", "full-fine-tune", self.engine],
            "datasets": [self.lineage.get("dataset", "luth_sft")],
        }
        lines = ["---", yaml.safe_dump(front, sort_keys=False).strip(), "---", ""]
        lines += [
            f"# {self.name}",
            "",
            f"Full fine-tune of `{self.base_model}` on Luth-SFT (French instruction data), "
            f"trained by luth-pipeline's `{self.engine}` engine. Loss on assistant turns only; "
            "packed sequences with document-masked attention.",
            "",
            "## Data lineage",
            "",
            _table(self.lineage),
            "",
            "## Hyper-parameters",
            "",
            _table(self.hyperparameters),
            "",
            "## Training results",
            "",
            _table(self.results),
            "",
            "## Use",
            "",
            "```python",
            "from transformers import AutoModelForCausalLM, AutoTokenizer",
            "tok = AutoTokenizer.from_pretrained(path)",
            "model = AutoModelForCausalLM.from_pretrained(path)",
            'msgs = [{"role": "user", "content": "Bonjour !"}]',
            "ids = tok.apply_chat_template(msgs, add_generation_prompt=True, return_tensors='pt', return_dict=True)",
            "print(tok.decode(model.generate(**ids)[0]))",
            "```",
            "",
        ]
        return "\n".join(lines)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return str(value).replace("|", "\\|")


def _table(values: dict) -> str:
    rows = ["| key | value |", "|---|---|"]
    rows += [f"| {k} | {_fmt(v)} |" for k, v in values.items() if v is not None]
    return "\n".join(rows)
