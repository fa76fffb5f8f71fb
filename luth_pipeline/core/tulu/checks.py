"""Row checks for translated prompts and generated answers. Each returns a reason or None."""

from __future__ import annotations

import re
from collections import Counter
from functools import cache

from luth_pipeline.core.text.langid import LanguageIdentifier

_CODE_BLOCK = re.compile(r"```.*?(?:```|$)", re.S)
_INLINE_CODE = re.compile(r"`[^`\n]+`")
_DISPLAY_MATH = re.compile(r"\$\$.*?\$\$|\\\[.*?\\\]", re.S)
_INLINE_MATH = re.compile(r"(?<!\\)\$[^$\n]+?(?<!\\)\$|\\\(.*?\\\)", re.S)

# Opening phrases of a refusal, in French and English (the teacher sometimes answers in English).
_REFUSALS = re.compile(
    r"^\W*(je suis désolée?,? mais je ne (peux|suis pas en mesure)|je ne peux pas (répondre|vous aider|fournir|"
    r"accéder|satisfaire)|désolée?, (mais )?je ne peux pas|en tant qu'(ia|intelligence artificielle|assistant)"
    r"[^.]{0,40}je ne peux|i'?m sorry,? but i can(no|')t|i can(no|')t (help|assist|comply)|as an ai)",
    re.I,
)


@cache
def _french() -> LanguageIdentifier:
    return LanguageIdentifier(language="fr")


def french_probability(text: str) -> float:
    """The shared per-turn rule on one text: the lowest French probability of its paragraphs (code,
    LaTeX, URLs and numbers ignored), so one paragraph left in English fails a translation."""
    return _french().chat([{"role": "assistant", "content": text}]).probability


def format_signature(text: str) -> Counter:
    """Counts of the structures a translation must carry over unchanged."""
    lines = text.splitlines()
    return Counter({
        "code blocks": text.count("```") // 2,
        "display math": len(_DISPLAY_MATH.findall(text)),
        "inline math": len(_INLINE_MATH.findall(_DISPLAY_MATH.sub(" ", text))),
        "inline code": len(_INLINE_CODE.findall(_CODE_BLOCK.sub(" ", text))),
        "headings": sum(1 for ln in lines if re.match(r"^#{1,6} ", ln)),
        "bullets": sum(1 for ln in lines if re.match(r"^\s*[-*+] ", ln)),
        "numbered items": sum(1 for ln in lines if re.match(r"^\s*\d+[.)] ", ln)),
    })


def format_mismatch(source: str, translation: str) -> str | None:
    """Which structure did not survive translation, e.g. "code blocks 2→1"; None when all did."""
    before, after = format_signature(source), format_signature(translation)
    changed = [f"{k} {before[k]}→{after[k]}" for k in sorted(set(before) | set(after)) if before[k] != after[k]]
    return ", ".join(changed) or None


def is_refusal(text: str) -> bool:
    return bool(_REFUSALS.search(text[:300]))
