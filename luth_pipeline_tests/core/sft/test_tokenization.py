"""Assistant-only labels with the tiny model's own chat template."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from transformers import AutoTokenizer

from luth_pipeline.core.sft.build import MappedTokens
from luth_pipeline.core.sft.tokenization import (
    IGNORE_INDEX,
    LabelMaskMismatch,
    LabelSettings,
    template_has_generation_markers,
    tokenize_conversations,
    tokenize_dataset,
)

CONVERSATION = [
    {"role": "system", "content": "Vous êtes un assistant utile."},
    {"role": "user", "content": "Écris « été » en majuscules."},
    {"role": "assistant", "content": "ÉTÉ — voilà !"},
    {"role": "user", "content": "Et 12 × 3 ?"},
    {"role": "assistant", "content": "**36**, car 12 × 3 = 36.\n\n```python\nprint(12 * 3)\n```"},
]


@pytest.fixture(scope="module")
def tokenizer(tiny_model_path):
    return AutoTokenizer.from_pretrained(tiny_model_path)


def run(tokenizer, conversations, **settings):
    rows = {"id": [f"r{i}" for i in range(len(conversations))], "messages": conversations}
    return tokenize_conversations(tokenizer, rows, LabelSettings(**{"max_length": 4096, **settings}))


def test_labels_cover_exactly_the_assistant_turns(tokenizer):
    assert template_has_generation_markers(tokenizer)
    out = run(tokenizer, [CONVERSATION])
    ids, labels = out["input_ids"][0], out["labels"][0]
    assert len(ids) == len(labels) and out["status"] == ["ok"]
    trained = [i for i, label in enumerate(labels) if label != IGNORE_INDEX]
    assert all(labels[i] == ids[i] for i in trained)
    # Trained tokens, taken as contiguous runs, are each assistant content followed by its end-of-turn.
    runs, current = [], [trained[0]]
    for i in trained[1:]:
        if i == current[-1] + 1:
            current.append(i)
        else:
            runs.append(current)
            current = [i]
    runs.append(current)
    assistant = [m["content"] for m in CONVERSATION if m["role"] == "assistant"]
    assert [tokenizer.decode([ids[i] for i in run]) for run in runs] == [c + "<|im_end|>" for c in assistant]
    # Everything masked is the rest of the rendered conversation: headers, system and user turns.
    masked = tokenizer.decode([t for t, label in zip(ids, labels) if label == IGNORE_INDEX])
    rendered = tokenizer.apply_chat_template(CONVERSATION, tokenize=False)
    for content in assistant:
        rendered = rendered.replace(content + "<|im_end|>", "", 1)
    assert masked == rendered
    assert out["n_trainable"] == [len(trained)]


def test_template_mask_disagreeing_with_independent_mask_fails_loudly(tokenizer):
    broken = tokenizer.chat_template.replace(
        "{{- '<|im_start|>assistant\\n' }}{%- generation %}", "{%- generation %}{{- '<|im_start|>assistant\\n' }}"
    )
    assert broken != tokenizer.chat_template
    tokenizer = AutoTokenizer.from_pretrained(tokenizer.name_or_path)
    tokenizer.chat_template = broken
    with pytest.raises(LabelMaskMismatch, match="row r0: the chat template's generation mask and the independent"):
        run(tokenizer, [CONVERSATION])


def test_template_without_generation_markers_uses_the_independent_mask(tokenizer):
    plain = AutoTokenizer.from_pretrained(tokenizer.name_or_path)
    plain.chat_template = plain.chat_template.replace("{%- generation %}", "").replace("{%- endgeneration %}", "")
    assert not template_has_generation_markers(plain)
    assert run(plain, [CONVERSATION])["labels"] == run(tokenizer, [CONVERSATION])["labels"]


def test_over_length_is_truncated_or_dropped_and_counted(tokenizer):
    long_user = [{"role": "user", "content": "mot " * 300}, {"role": "assistant", "content": "Court."}]
    long_answer = [{"role": "user", "content": "Raconte."}, {"role": "assistant", "content": "Il était une fois " * 100}]
    truncated = run(tokenizer, [long_answer, long_user], max_length=64, over_length="truncate")
    assert truncated["status"] == ["truncated", "dropped:no_trainable_tokens"]
    assert truncated["n_tokens"] == [64, 0] and 0 < truncated["n_trainable"][0] < 64
    short = [{"role": "user", "content": "Salut"}, {"role": "assistant", "content": "Bonjour !"}]
    dropped = run(tokenizer, [long_answer, short], max_length=64, over_length="drop")
    assert dropped["status"] == ["dropped:over_length", "ok"]


def test_dataset_map_with_workers_equals_one_batch(tokenizer, tmp_path):
    conversations = [CONVERSATION, CONVERSATION[:3]] * 20
    settings = LabelSettings(max_length=4096)
    table = pa.table({"id": [f"r{i}" for i in range(40)], "messages": conversations})
    mapped = tokenize_dataset(tokenizer, table.to_batches(max_chunksize=16), settings, batch_size=8, num_proc=2, cache_dir=tmp_path)
    direct = run(tokenizer, conversations)
    assert mapped["input_ids"] == direct["input_ids"] and mapped["labels"] == direct["labels"]
    assert mapped["id"] == [f"r{i}" for i in range(40)]
    # The packer reads the workers' cache files through its own maps, and reads them again after
    # dropping the pages from its resident set.
    tokens = MappedTokens([cache["filename"] for cache in mapped.cache_files])
    assert len(mapped.cache_files) == 2 and tokens.starts[-1] == 40
    rows = np.array([39, 0, 17, 20])
    for _ in range(2):
        assert tokens.gather("input_ids", rows).tolist() == [t for r in rows for t in direct["input_ids"][r]]
        assert tokens.gather("labels", rows).tolist() == [t for r in rows for t in direct["labels"][r]]
        tokens.release()


QWEN3_TEMPLATE = Path(__file__).parents[2] / "fixtures" / "chat_templates" / "qwen3.jinja"


@pytest.fixture(scope="module")
def qwen3_tokenizer(tiny_model_path):
    """The tiny tokenizer (same special tokens as Qwen3) with Qwen3's real hub template."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_path)
    tokenizer.chat_template = QWEN3_TEMPLATE.read_text(encoding="utf-8")
    return tokenizer


def test_qwen3_template_labels_each_assistant_content_and_its_end_of_turn(qwen3_tokenizer):
    assert not template_has_generation_markers(qwen3_tokenizer)
    out = run(qwen3_tokenizer, [CONVERSATION])
    assert out["status"] == ["ok"]
    ids, labels = out["input_ids"][0], out["labels"][0]
    trained = qwen3_tokenizer.decode([t for t, label in zip(ids, labels) if label != IGNORE_INDEX])
    assert trained == "".join(m["content"] + "<|im_end|>" for m in CONVERSATION if m["role"] == "assistant")
    # the empty think block Qwen3 puts before the last answer is input, not target
    assert "<think>\n\n</think>\n\n" in qwen3_tokenizer.decode(ids) and "<think>" not in trained


def test_a_row_whose_content_the_template_rewrites_is_dropped_with_its_reason(qwen3_tokenizer):
    thinking = [
        {"role": "user", "content": "Combien font 2 + 2 ?"},
        {"role": "assistant", "content": "<think>\nJe compte.\n</think>\n\n2 + 2 = 4."},
        {"role": "user", "content": "Et 3 + 3 ?"},
        {"role": "assistant", "content": "3 + 3 = 6."},
    ]
    out = run(qwen3_tokenizer, [CONVERSATION, thinking, CONVERSATION[:3]])
    assert out["status"] == ["ok", "dropped:content_not_rendered", "ok"]
    assert out["input_ids"][1] == [] and "turn 1 (assistant)" in out["detail"][1]
    assert out["detail"][0] is None and out["n_trainable"][2] > 0
