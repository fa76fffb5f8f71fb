"""Build a tiny Qwen3-architecture causal LM offline, deterministically.

No hub access exists on CI or laptops without a token, so the `local` profile makes its base
model: a byte-level BPE tokenizer trained on the fixture text, a Qwen3-style chat template whose
assistant turns are wrapped in `{% generation %}` (so `return_assistant_tokens_mask=True` works
for assistant-only loss), and random weights from a fixed seed. The result is a normal HF folder.
"""

from __future__ import annotations

import glob
import hashlib
import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from luth_pipeline.core.config.profile import REPO_ROOT, stage_fingerprint
from luth_pipeline.core.models.config import TinyModelSpec
from luth_pipeline.core.storage import atomic_directory

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"]

# Qwen3's chat template, reduced to what the recipe uses (system/user/assistant turns, the
# `enable_thinking=False` empty think block), with assistant content marked for masking.
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if message['role'] == 'assistant' %}"
    "{{- '<|im_start|>assistant\\n' }}"
    "{%- generation %}{{- message['content'] + '<|im_end|>' }}{%- endgeneration %}"
    "{{- '\\n' }}"
    "{%- else %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}"
    "{{- '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}{{- '<think>\\n\\n</think>\\n\\n' }}{%- endif %}"
    "{%- endif %}"
)


def _strings(value) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def corpus_texts(patterns: Iterable[str]) -> Iterator[str]:
    """Every string found in the JSON/JSONL files matched by `patterns` (sorted: deterministic)."""
    files = _corpus_files(patterns)
    if not files:
        raise FileNotFoundError(f"no tokenizer corpus files match {list(patterns)} under {REPO_ROOT}")
    for file in files:
        text = Path(file).read_text(encoding="utf-8")
        records = [json.loads(line) for line in text.splitlines() if line.strip()] if file.endswith(".jsonl") else [json.loads(text)]
        for record in records:
            yield from _strings(record)


def _corpus_files(patterns: Iterable[str]) -> list[str]:
    return sorted({f for p in patterns for f in glob.glob(str(REPO_ROOT / p), recursive=True)})


def corpus_digest(patterns: Iterable[str]) -> str:
    """Hash of the corpus files' bytes: a fixture edit means a new tokenizer, so a new build."""
    digest = hashlib.sha256()
    for file in _corpus_files(patterns):
        digest.update(Path(file).read_bytes())
    return digest.hexdigest()[:12]


def build_tokenizer(spec: TinyModelSpec, texts: Iterable[str]):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=spec.vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    hf_tok = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        bos_token=None,
        additional_special_tokens=SPECIAL_TOKENS[1:],
        model_max_length=spec.max_position_embeddings,
    )
    hf_tok.chat_template = CHAT_TEMPLATE
    return hf_tok


def build_tiny_model(spec: TinyModelSpec, out_dir: Path) -> Path:
    """Write tokenizer + random-init Qwen3 weights + generation config to `out_dir` (atomically)."""
    import torch
    from transformers import GenerationConfig, Qwen3Config, Qwen3ForCausalLM

    tokenizer = build_tokenizer(spec, corpus_texts(spec.tokenizer_corpus))
    config = Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_hidden_layers,
        num_attention_heads=spec.num_attention_heads,
        num_key_value_heads=spec.num_key_value_heads,
        head_dim=spec.head_dim,
        max_position_embeddings=spec.max_position_embeddings,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tokenizer.pad_token_id,
        dtype="float32",
    )
    torch.manual_seed(spec.seed)
    model = Qwen3ForCausalLM(config)
    model.generation_config = GenerationConfig(
        eos_token_id=[config.eos_token_id, tokenizer.convert_tokens_to_ids("<|endoftext|>")],
        pad_token_id=config.pad_token_id,
        do_sample=False,
        max_new_tokens=64,
    )
    with atomic_directory(out_dir) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    return out_dir


def tiny_model_dir(spec: TinyModelSpec, work_dir: Path, name: str) -> Path:
    """The cached build of `spec` (built on first use; the folder name carries the spec hash)."""
    from filelock import FileLock

    out = Path(work_dir) / "models" / f"{name}-{stage_fingerprint(spec, corpus_digest(spec.tokenizer_corpus))}"
    out.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(out) + ".lock"):  # parallel test workers build it once
        if not (out / "config.json").is_file():
            build_tiny_model(spec, out)
    return out
