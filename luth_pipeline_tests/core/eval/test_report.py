"""The comparison report on known numbers: deltas vs base and vs published, the best α, rendering."""

import polars as pl
import pytest

from luth_pipeline.core.config import ConfigError
from luth_pipeline.core.eval.report import PublishedRow, bar_chart_png, build_comparison, load_reference_scores, render_markdown
from luth_pipeline.core.eval.runner import SCORES_SCHEMA


def _row(model, role, scores, source="card", verified=True):
    return PublishedRow(model=model, hub_id=f"org/{model}", base_model="qwen3-0.6b", role=role, language="fr",
                        source=source, where="table 1", verified=verified, scores=scores)


REFERENCES = [
    _row("Luth-0.6B-Instruct", "luth", {"mmlu": 40.23, "math_500": 43.0}),
    _row("Qwen3-0.6B", "base", {"mmlu": 27.13, "math_500": 29.2}),
    _row("Luth-0.6B-Instruct", "luth", {"mmlu": 40.0}, source="paper", verified=False),
]

# checkpoint -> (mmlu_fr, math_500_fr) as fractions
SCORES = {
    "qwen3-0.6b.base": (0.35, 0.30),
    "qwen3-0.6b.finetuned": (0.38, 0.40),
    "qwen3-0.6b.merged.slerp-050": (0.41, 0.42),  # mean 41.5: the best recipe
    "qwen3-0.6b.merged.slerp-070": (0.40, 0.41),
}


def _scores() -> pl.DataFrame:
    rows = []
    for checkpoint, (mmlu, maths) in SCORES.items():
        for task, metric, reference, score in (("mmlu_fr", "acc", "mmlu", mmlu), ("math_500_fr", "math_pass@1", "math_500", maths)):
            common = {"checkpoint": checkpoint, "language": "fr", "task": task, "reference": reference, "stderr": 0.01,
                      "run_std": 0.0, "num_runs": 1, "run_scores": [score], "num_samples": 100, "backend": "vllm", "model_path": "x"}
            rows.append({**common, "metric": metric, "headline": True, "score": score})
            rows.append({**common, "metric": metric + "_other", "headline": False, "score": 0.99})  # never reported
    return pl.DataFrame(rows, schema=SCORES_SCHEMA)


def test_deltas_published_and_best_recipe():
    table = build_comparison(_scores(), REFERENCES)
    assert table.height == 8  # headline rows only
    row = table.filter((pl.col("checkpoint") == "qwen3-0.6b.merged.slerp-050") & (pl.col("task") == "mmlu_fr")).row(0, named=True)
    assert row["score"] == pytest.approx(41.0) and row["delta_vs_base"] == pytest.approx(6.0)
    assert row["published"] == pytest.approx(40.23) and row["delta_vs_published"] == pytest.approx(0.77)
    best = table.filter(pl.col("best_recipe"))["checkpoint"].unique().to_list()
    assert best == ["qwen3-0.6b.merged.slerp-050"]
    base = table.filter(pl.col("kind") == "base")
    assert base["delta_vs_base"].to_list() == [0.0, 0.0]
    assert table["checkpoint"].to_list()[:4] == ["qwen3-0.6b.base", "qwen3-0.6b.finetuned",
                                                 "qwen3-0.6b.merged.slerp-050", "qwen3-0.6b.merged.slerp-070"]


def test_markdown_marks_the_best_recipe_and_lists_the_published_row():
    markdown = render_markdown(build_comparison(_scores(), REFERENCES), {"temperature": 0.0}, REFERENCES)
    assert "| checkpoint | math_500_fr | mmlu_fr | mean |" in markdown
    assert "| **qwen3-0.6b.merged.slerp-050 ★** | **42.00 (+12.00)** | **41.00 (+6.00)** | **41.50** |" in markdown
    assert "| qwen3-0.6b.base | 30.00 | 35.00 | 32.50 |" in markdown
    assert "| *Luth-0.6B-Instruct (published: card)* | 43.00 | 40.23 | 41.61 |" in markdown
    assert "| *Qwen3-0.6B (published: card)* | 29.20 | 27.13 | 28.16 |" in markdown  # the base model's row
    assert "| *Luth-0.6B-Instruct (published: paper †)* | – | 40.00 | – |" in markdown
    assert "- **temperature**: `0.0`" in markdown


def test_chart_is_a_png():
    png = bar_chart_png(build_comparison(_scores(), REFERENCES))
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_shipped_reference_scores_cite_a_source_for_every_row():
    rows = load_reference_scores("configs/eval/reference_scores.yaml")
    have = {(r.base_model, r.role, r.language) for r in rows}
    # the released models and their Qwen3 bases, French and English
    assert {(base, role, language) for base in ("qwen3-0.6b", "qwen3-1.7b") for role in ("luth", "base")
            for language in ("fr", "en")} <= have
    assert all(r.where and r.scores for r in rows)
    card = next(r for r in rows if r.source == "card_luth_0.6b" and r.role == "luth" and r.language == "fr")
    assert card.scores["ifeval"] == 48.24 and card.verified
    # the blog's tables are complete: six tasks for each model, suite and family
    blog = [r for r in rows if r.source == "blog"]
    assert len(blog) == 8 and all(len(r.scores) == 6 and r.verified for r in blog)
    blog_fr = next(r for r in blog if r.model == "Luth-0.6B-Instruct" and r.language == "fr")
    assert (blog_fr.scores["gpqa_diamond"], blog_fr.scores["hellaswag"]) == (33.50, 45.70)


def test_a_row_citing_an_undeclared_source_is_a_config_error(tmp_path):
    bad = tmp_path / "refs.yaml"
    bad.write_text(
        "sources: {card: {citation: c, url: u}}\n"
        "published:\n  - {model: M, hub_id: o/M, base_model: b, role: luth, language: fr, source: blog,"
        " where: t, verified: true, scores: {mmlu: 1.0}}\n"
    )
    with pytest.raises(ConfigError, match="published\\[0\\].*'blog'"):
        load_reference_scores(bad)


def test_calibration_lines_put_the_published_figure_beside_a_released_models_score():
    """`make eval-gpu MODEL=kurakurai/Luth-0.6B-Instruct` prints card and blog values and the gaps."""
    from luth_pipeline.core.eval.evaluate import headline_lines

    scores = _scores().filter(pl.col("checkpoint") == "qwen3-0.6b.base")  # mmlu_fr 35.00, math_500_fr 30.00
    references = load_reference_scores("configs/eval/reference_scores.yaml")
    lines = headline_lines(scores, references, "kurakurai/Luth-0.6B-Instruct")
    mmlu = next(line for line in lines if "mmlu_fr" in line)
    assert "published 40.12 (card_luth_0.6b): -5.12" in mmlu and "published 40.23 (blog): -5.23" in mmlu
    base = headline_lines(scores, references, "Qwen/Qwen3-0.6B")  # a base model's published rows too
    assert "published 27.13 (card_luth_0.6b): +7.87" in next(line for line in base if "mmlu_fr" in line)
    assert not any("published" in line for line in headline_lines(scores, references, "some/other-model"))
