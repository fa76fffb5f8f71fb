"""Tables and the subject-mix plot the Scholar assets attach as metadata (no Dagster here)."""

from __future__ import annotations

from collections.abc import Mapping

from luth_pipeline.core.plots import png_bytes, pyplot
from luth_pipeline.core.scholar.chain import StepStats


def subject_mix_png(ours: Mapping[str, float], reference: Mapping[str, float], title: str) -> bytes:
    plt = pyplot()

    subjects = list(dict.fromkeys([*reference, *ours]))
    x = range(len(subjects))
    fig, ax = plt.subplots(figsize=(7, 3.2), dpi=100)
    ax.bar([i - 0.2 for i in x], [reference.get(s, 0) * 100 for s in subjects], width=0.4, label="Luth report", color="#9aa5b1")
    ax.bar([i + 0.2 for i in x], [ours.get(s, 0) * 100 for s in subjects], width=0.4, label="these exercises", color="#2f6fde")
    ax.set_xticks(list(x), subjects, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("% of exercises")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return png_bytes(fig, metadata={"Software": None})


def mix_markdown(ours: Mapping[str, float], reference: Mapping[str, float], counts: Mapping[str, int]) -> str:
    lines = ["| subject | exercises | ours | Luth report |", "|---|---:|---:|---:|"]
    for subject in dict.fromkeys([*reference, *ours]):
        lines.append(f"| {subject} | {counts.get(subject, 0)} | {ours.get(subject, 0):.1%} | {reference.get(subject, 0):.1%} |")
    return "\n".join(lines)


def steps_markdown(steps: Mapping[str, StepStats]) -> str:
    lines = ["| step | requests | cache hits | LLM errors | cut at max tokens | clean JSON | LaTeX escapes fixed | json_repair | "
             "unparseable | items off-schema | repeats dropped | exams rejected | exercises/questions rejected | unknown paths |",
             "|---|" + "---:|" * 13]
    for name, s in steps.items():
        lines.append(f"| {name} | {s.requests} | {s.cache_hits} | {s.llm_errors} | {s.truncated} | {s.parse['clean']} | "
                     f"{s.parse['latex_escapes']} | {s.parse['json_repair']} | {s.parse['failed']} | {s.dropped_items} | {s.repeated} | "
                     f"{s.exams_failed} | {s.items_rejected} | {s.unknown_paths} |")
    return "\n".join(lines)


def counts_markdown(counts: Mapping[str, int]) -> str:
    lines = ["| step | rows |", "|---|---:|"]
    lines += [f"| {name} | {value} |" for name, value in counts.items()]
    return "\n".join(lines)
