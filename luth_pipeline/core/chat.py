"""Talk to any checkpoint: a produced one by key (`tiny.finetuned`, `qwen3-0.6b.merged.slerp`),
a local folder, or a Hugging Face model id; on CPU or GPU.

`ChatSession` keeps the conversation (with an optional system prompt), streams each reply token
by token through transformers' `TextIteratorStreamer`, and can be reset. `generate` answers a
batch of independent prompts.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from luth_pipeline.core.checkpoints import CheckpointKey, checkpoint_location, profile_checkpoint_keys
from luth_pipeline.core.config import Profile
from luth_pipeline.core.storage import DatasetStore
from luth_pipeline.core.suggest import did_you_mean

DEFAULT_SYSTEM_PROMPT = "Vous êtes un assistant utile."


class CheckpointNotFound(FileNotFoundError):
    pass


def resolve_checkpoint(spec: str, profile: Profile, store: DatasetStore) -> str:
    """A path or hub id for `spec`: a checkpoint key of this profile, a local folder, or a hub id."""
    if Path(spec).expanduser().is_dir():
        return str(Path(spec).expanduser().resolve())
    try:
        key = CheckpointKey.parse(spec)
    except ValueError:
        key = None
    keys = profile_checkpoint_keys(profile)
    if key is not None and key.base_model in profile.base_models:
        if str(key) not in keys:  # a recipe this profile does not run: no partition could produce it
            raise CheckpointNotFound(f"{spec!r} is not a checkpoint of profile {profile.name!r}{did_you_mean(spec, keys)}")
        if key.kind == "base":
            return checkpoint_location(key, profile, store)
        try:
            return checkpoint_location(key, profile, store)
        except FileNotFoundError as exc:
            raise CheckpointNotFound(f"{exc} (e.g. `luth demo --select {_producer(key)}` or from the UI)") from None
    if spec.count("/") == 1 and not spec.startswith((".", "/", "~")):
        return spec  # a hub id: from_pretrained will find it in the HF cache or download it
    raise CheckpointNotFound(
        f"{spec!r} is neither a checkpoint of profile {profile.name!r}, a local model folder, "
        f"nor a Hugging Face id (`org/name`){did_you_mean(spec, keys)}"
    )



def _producer(key: CheckpointKey) -> str:
    return "merged_checkpoint" if key.kind == "merged" else "finetuned_checkpoint"


def pick_device(device: str = "auto") -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"--device {device} asked for, but torch sees no CUDA GPU; use --device cpu")
    return device


@dataclass
class GenerationSettings:
    max_new_tokens: int = 256
    temperature: float = 0.0  # 0 = greedy, as the Luth evaluation does
    top_p: float = 1.0

    def kwargs(self) -> dict:
        if self.temperature <= 0:
            return {"max_new_tokens": self.max_new_tokens, "do_sample": False}
        return {"max_new_tokens": self.max_new_tokens, "do_sample": True, "temperature": self.temperature, "top_p": self.top_p}


class LoadedModel:
    """A causal LM and its tokenizer, on one device (bf16 on GPU, fp32 on CPU)."""

    def __init__(self, location: str, device: str = "auto"):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.location = location
        self.device = pick_device(device)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(location)
            dtype = torch.bfloat16 if self.device.startswith("cuda") else torch.float32
            self.model = AutoModelForCausalLM.from_pretrained(location, dtype=dtype).to(self.device).eval()
        except OSError as exc:
            raise CheckpointNotFound(
                f"cannot load a model from {location!r}: {exc}. With HF_HUB_OFFLINE=1 only cached or local models load."
            ) from exc
        if self.tokenizer.chat_template is None:
            raise ValueError(f"{location} has no chat template: `luth chat` needs an instruction/chat model")

    def prompt_ids(self, messages: list[dict[str, str]]):
        encoded = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, enable_thinking=False, return_tensors="pt", return_dict=True
        )
        return {k: v.to(self.device) for k, v in encoded.items()}


class ChatSession:
    """A multi-turn conversation with a model; `stream(user_text)` yields the reply's text pieces."""

    def __init__(self, model: LoadedModel, system_prompt: str | None = DEFAULT_SYSTEM_PROMPT, settings: GenerationSettings | None = None):
        self.model = model
        self.system_prompt = system_prompt
        self.settings = settings or GenerationSettings()
        self.messages: list[dict[str, str]] = []
        self.reset()

    def reset(self, system_prompt: str | None = ...) -> None:  # type: ignore[assignment]
        if system_prompt is not ...:
            self.system_prompt = system_prompt
        self.messages = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []

    def stream(self, user_text: str) -> Iterator[str]:
        from transformers import TextIteratorStreamer

        self.messages.append({"role": "user", "content": user_text})
        inputs = self.model.prompt_ids(self.messages)
        streamer = TextIteratorStreamer(self.model.tokenizer, skip_prompt=True, skip_special_tokens=True)
        errors: list[BaseException] = []

        def run() -> None:
            try:
                self.model.model.generate(**inputs, streamer=streamer, **self.settings.kwargs())
            except BaseException as exc:  # surfaced in the caller's thread below
                errors.append(exc)
                streamer.end()

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        reply = []
        for piece in streamer:
            reply.append(piece)
            yield piece
        worker.join()
        if errors:
            self.messages.pop()
            raise errors[0]
        self.messages.append({"role": "assistant", "content": "".join(reply).strip()})


def generate(model: LoadedModel, prompts: list[str], system_prompt: str | None = DEFAULT_SYSTEM_PROMPT,
             settings: GenerationSettings | None = None, batch_size: int = 8) -> list[str]:
    """One independent answer per prompt (left-padded batches)."""
    import torch

    settings = settings or GenerationSettings()
    tokenizer = model.tokenizer
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    answers: list[str] = []
    for start in range(0, len(prompts), batch_size):
        chats = [
            ([{"role": "system", "content": system_prompt}] if system_prompt else []) + [{"role": "user", "content": p}]
            for p in prompts[start : start + batch_size]
        ]
        texts = [tokenizer.apply_chat_template(c, add_generation_prompt=True, enable_thinking=False, tokenize=False) for c in chats]
        batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
        with torch.no_grad():
            out = model.model.generate(**batch, pad_token_id=tokenizer.pad_token_id, **settings.kwargs())
        new_tokens = out[:, batch["input_ids"].shape[1] :]
        answers += [t.strip() for t in tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]
    return answers
