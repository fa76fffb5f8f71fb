"""The tiny local base model: built offline and deterministically, a normal HF folder, a chat
template that marks exactly the assistant turns."""

import hashlib

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from luth_pipeline.core.models.tiny import build_tiny_model


def _digests(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def test_two_builds_are_byte_identical_and_load_as_qwen3(local_profile, tmp_path):
    spec = local_profile.base_models["tiny"].build
    first, second = build_tiny_model(spec, tmp_path / "a"), build_tiny_model(spec, tmp_path / "b")
    assert _digests(first) == _digests(second)
    assert {"config.json", "model.safetensors", "tokenizer.json", "generation_config.json"} <= set(_digests(first))

    model = AutoModelForCausalLM.from_pretrained(first)
    tokenizer = AutoTokenizer.from_pretrained(first)
    assert type(model).__name__ == "Qwen3ForCausalLM" and model.config.num_hidden_layers == spec.num_hidden_layers
    assert len(tokenizer) <= model.config.vocab_size
    # the BPE was trained on the fixture text: frequent French words are whole tokens, not bytes
    assert all(len(tokenizer.tokenize(word)) == 1 for word in (" de", " la", " est", " les"))
    ids = tokenizer.apply_chat_template([{"role": "user", "content": "Salut !"}], add_generation_prompt=True,
                                        enable_thinking=False, return_tensors="pt", return_dict=True)
    assert tokenizer.decode(ids["input_ids"][0]).endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=4, do_sample=False)
    assert out.shape[1] == ids["input_ids"].shape[1] + 4 or tokenizer.convert_ids_to_tokens(int(out[0, -1])) == "<|im_end|>"


def test_chat_template_masks_exactly_the_assistant_turns(tiny_model_path):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_path)
    conversation = [{"role": "system", "content": "Sois bref."}, {"role": "user", "content": "Capitale ?"},
                    {"role": "assistant", "content": "Paris."}, {"role": "user", "content": "Et l'Italie ?"},
                    {"role": "assistant", "content": "Rome."}]
    out = tokenizer.apply_chat_template(conversation, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    masked = [t for t, keep in zip(out["input_ids"], out["assistant_masks"]) if keep]
    assert tokenizer.decode(masked) == "Paris.<|im_end|>Rome.<|im_end|>"
