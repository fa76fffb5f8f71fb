"""Model cards (README.md) a Hub user expects, for fine-tuned and merged checkpoints.

The YAML header follows the Hub's model card metadata: `base_model` and `datasets` as hub ids
(a local name such as `luth_sft` is not one, so it never goes there), and once the checkpoint is
evaluated a `model-index` with one result per benchmark (the Hub's eval-results format, read by
`huggingface_hub.ModelCard`/`metadata_eval_result`). The body says how the model was made: the
recipe, the data lineage, the training or merge config, training results and the scores table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

# `owner/name`: what the Hub accepts in `datasets:` / `base_model:`.
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")

RECIPE = (
    "Luth recipe (Lasbordes & Gad, arXiv:2510.05846): French instruction data (Luth-SFT: French "
    "subsets of public instruction sets filtered by language ID, Tulu 3 persona prompts translated "
    "and answered in French by a teacher model, Scholar exercises extracted from French exam PDFs), "
    "full fine-tuning with the loss on assistant turns only, then a merge of the fine-tuned weights "
    "with the base model (mergekit)."
)


def hub_ids(values) -> list[str]:
    return [v for v in values if isinstance(v, str) and HUB_ID.match(v)]


def training_datasets(profile) -> list[str]:
    """The hub ids the fine-tune's data comes from: the published Luth-SFT when training on it, the
    pushed Luth-SFT repo when the sft stage pushes one, else every hub dataset our mixture is built
    from (raw sources and Tulu prompt sets)."""
    sft = profile.sft
    if sft.source == "published":
        return [sft.published.hf_id]
    if sft.hub.push and sft.hub.repo_id:
        return [sft.hub.repo_id]
    ids = [s.hf_id for s in profile.sources.values()] + [s.hf_id for s in profile.tulu.sources.values()]
    return list(dict.fromkeys(hub_ids(ids)))


@dataclass
class ModelCard:
    name: str
    base_model: str | list[str]  # hub id(s) or local path(s) of the starting weights
    engine: str
    hyperparameters: dict
    results: dict
    lineage: dict  # datasets, partitions, data versions, row/token counts
    language: list[str] = field(default_factory=lambda: ["fr", "en"])
    license: str = "apache-2.0"
    # Hub ids of the training data; default: `lineage["datasets"]` (set by the train asset).
    datasets: list[str] | None = None
    kind: str = "fine-tuned"  # or "merged"
    config_title: str = "Training config"
    config_yaml: str | None = None  # the rendered Axolotl / mergekit YAML
    model_index: list[dict] | None = None
    eval_table: str | None = None

    def _datasets(self) -> list[str]:
        return hub_ids(self.datasets if self.datasets is not None else self.lineage.get("datasets") or [])

    def front_matter(self) -> dict[str, Any]:
        bases = self.base_model if isinstance(self.base_model, list) else [self.base_model]
        front: dict[str, Any] = {
            "base_model": hub_ids(bases) or None,
            "language": self.language,
            "license": self.license,
            "library_name": "transformers",
            "pipeline_tag": "text-generation",
            "tags": ["luth", "french", self.engine] + (["merge", "mergekit"] if self.kind == "merged" else ["sft", "full-fine-tune"]),
            "datasets": self._datasets() or None,
        }
        if self.model_index:
            front["model-index"] = self.model_index
        return {k: v for k, v in front.items() if v is not None}

    def render(self) -> str:
        lines = ["---", yaml.safe_dump(self.front_matter(), sort_keys=False, allow_unicode=True).strip(), "---", ""]
        bases = self.base_model if isinstance(self.base_model, list) else [self.base_model]
        what = (
            f"Full fine-tune of `{bases[0]}` on Luth-SFT (French instruction data), trained by luth-pipeline's "
            f"`{self.engine}` engine. Loss on assistant turns only; packed sequences with document-masked attention."
            if self.kind != "merged"
            else "Merge (mergekit) of " + " and ".join(f"`{b}`" for b in bases) + "."
        )
        datasets = self._datasets()
        lines += [f"# {self.name}", "", what, "", "## Recipe", "", RECIPE, ""]
        if datasets:
            lines += ["Training data (hub ids): " + ", ".join(f"`{d}`" for d in datasets) + ".", ""]
        lines += ["## Data lineage", "", _table(self.lineage), "", "## Hyper-parameters" if self.kind != "merged" else "## Merge parameters", "", _table(self.hyperparameters), ""]
        if self.config_yaml:
            lines += [f"## {self.config_title}", "", "```yaml", self.config_yaml.strip(), "```", ""]
        if self.results:
            lines += ["## Training results" if self.kind != "merged" else "## Merge results", "", _table(self.results), ""]
        if self.eval_table:
            lines += [EVAL_HEADING, "", self.eval_table, ""]
        lines += [
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


EVAL_HEADING = "## Evaluation results"


def model_index(model_name: str, scores, catalogue: dict, settings: dict | None = None) -> list[dict]:
    """The Hub's `model-index` for `scores` (a benchmark_scores table): one result per task's
    headline metric, the dataset named by its hub id, subset and split, values in percent."""
    results = []
    for row in scores.filter(scores["headline"]).sort("language", "task").iter_rows(named=True):
        spec = catalogue.get(row["task"])
        dataset = {"name": f"{row['task']} ({row['language']})", "type": spec.hf_repo if spec else row["task"]}
        if spec is not None:
            if spec.hf_subset and spec.hf_subset != "default":
                dataset["config"] = spec.hf_subset
            dataset["split"] = spec.split
        metric = {"type": row["metric"], "value": round(100 * row["score"], 2), "name": row["metric"]}
        if settings:
            metric["args"] = {k: settings[k] for k in ("temperature", "num_runs", "max_new_tokens", "enable_thinking") if k in settings}
        results.append({
            "task": {"type": "text-generation", "name": "Text Generation"},
            "dataset": dataset,
            "metrics": [metric],
            "source": {"name": "luth-pipeline benchmark_scores (LightEval)", "url": "https://github.com/huggingface/lighteval"},
        })
    return [{"name": model_name, "results": results}]


def scores_table(scores) -> str:
    headline = scores.filter(scores["headline"]).sort("language", "task")
    lines = ["| language | task | metric | score (%) | runs |", "|---|---|---|---|---|"]
    lines += [
        f"| {r['language']} | {r['task']} | {r['metric']} | {100 * r['score']:.2f} | {r['num_runs']} |"
        for r in headline.iter_rows(named=True)
    ]
    return "\n".join(lines)


def split_card(text: str) -> tuple[dict, str]:
    """(front matter, body) of a README with a `---` YAML header."""
    if not text.startswith("---"):
        return {}, text
    _, header, body = text.split("---", 2)
    return yaml.safe_load(header) or {}, body.lstrip("\n")


def with_eval_results(card_text: str, index: list[dict], table: str) -> str:
    """The card with its `model-index` and its evaluation section replaced by these results."""
    front, body = split_card(card_text)
    front["model-index"] = index
    if EVAL_HEADING in body:
        before, after = body.split(EVAL_HEADING, 1)
        rest = after.split("\n## ", 1)
        body = before + EVAL_HEADING + "\n\n" + table + "\n" + ("\n## " + rest[1] if len(rest) > 1 else "")
    else:
        marker = "## Use\n"
        section = f"{EVAL_HEADING}\n\n{table}\n\n"
        body = body.replace(marker, section + marker, 1) if marker in body else body + "\n" + section
    return "---\n" + yaml.safe_dump(front, sort_keys=False, allow_unicode=True).strip() + "\n---\n\n" + body


def merged_model_card(*, name: str, method: str, recipe: str, params: dict, mergekit_yaml: str, parents: dict,
                      finetuned_card: str | None, results: dict) -> ModelCard:
    """The card of a merged checkpoint: both parents (the base by hub id), the recipe and the exact
    mergekit YAML, the training data inherited from the fine-tuned parent's card."""
    base, finetuned = parents.get("base", {}), parents.get("finetuned", {})
    base_id = base.get("hub_id") or base.get("path")
    ft_front = split_card(finetuned_card)[0] if finetuned_card else {}
    return ModelCard(
        name=name,
        base_model=[b for b in (base_id, finetuned.get("hub_id") or finetuned.get("path")) if b],
        engine="mergekit",
        hyperparameters={"method": method, "recipe": recipe, **params},
        results=results,
        lineage={f"{role}.{k}": v for role, parent in parents.items() for k, v in parent.items()},
        datasets=ft_front.get("datasets") or [],
        kind="merged",
        config_title="mergekit config",
        config_yaml=mergekit_yaml,
    )


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
