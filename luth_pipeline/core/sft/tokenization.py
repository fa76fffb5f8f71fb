"""Chat tokenization with assistant-only labels, using the base model's own chat template.

Labels cover each assistant turn's content and its end-of-turn token (Axolotl's
`train_on_inputs: false` + `train_on_eos: turn`, upstream's setting); everything else
(system/user turns, role headers, the template's separators) is `-100`.

Two computations of that mask must agree, or tokenization stops with the row id (a template
whose markers disagree is wrong for every row):
1. the template's own `{% generation %}` markers (`return_assistant_tokens_mask=True`);
2. an independent one from the rendered text: each assistant content is located in the
   conversation's rendering (in message order), mapped to tokens through the tokenizer's
   character offsets, and extended to the end-of-turn token that follows it.
A template without generation markers (e.g. the hub's Qwen3/LFM2 templates) cannot give (1);
then (2) is the mask, and the metadata says so. A row whose content the template does not render
as written (Qwen3 strips `<think>` blocks of earlier assistant turns) is dropped with its reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

IGNORE_INDEX = -100


class LabelMaskMismatch(RuntimeError):
    """The chat template's assistant mask and the independent computation disagree."""


class ContentNotRendered(LabelMaskMismatch):
    """A turn's content is not in the rendering as written, or not on token boundaries.

    A property of one row, not of the template: Qwen3's template, for instance, drops the
    `<think>…</think>` part of earlier assistant turns. Such a row is dropped (counted, with the
    reason); training on it would teach text the model never sees in that form.
    """


@dataclass(frozen=True)
class LabelSettings:
    max_length: int
    over_length: str = "drop"  # or "truncate"
    enable_thinking: bool | None = False


def template_has_generation_markers(tokenizer) -> bool:
    template = tokenizer.chat_template or ""
    return "{% generation %}" in template.replace("{%-", "{%").replace("-%}", "%}").replace("generation -", "generation ")


def _template_kwargs(settings: LabelSettings) -> dict:
    return {} if settings.enable_thinking is None else {"enable_thinking": settings.enable_thinking}


def end_of_turn_ids(tokenizer) -> set[int]:
    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    for token in ("<|im_end|>", "<|eot_id|>", "<end_of_turn>"):
        token_id = tokenizer.convert_tokens_to_ids(token)
        if isinstance(token_id, int) and token_id != tokenizer.unk_token_id and token_id is not None:
            ids.add(token_id)
    return ids


def independent_assistant_mask(text: str, offsets: Sequence[tuple[int, int]], input_ids: Sequence[int], messages, eot_ids: set[int]) -> list[int]:
    """Mask from the rendered text: assistant contents located in order, plus their end-of-turn."""
    starts: dict[int, int] = {}
    for index, (start, end) in enumerate(offsets):
        if end > start:
            # Byte-level BPE splits a multi-byte character into tokens sharing its offsets: the first one starts it.
            starts.setdefault(start, index)
    mask = [0] * len(input_ids)
    cursor = 0
    for turn, message in enumerate(messages):
        position = text.find(message["content"], cursor)
        if position < 0:
            raise ContentNotRendered(f"turn {turn} ({message['role']}) content is not in the chat template's rendering as written")
        cursor = position + len(message["content"])
        if message["role"] != "assistant":
            continue
        if position not in starts:
            raise ContentNotRendered(f"assistant turn {turn} does not start on a token boundary (char {position})")
        first = starts[position]
        last = first
        while last < len(input_ids) and offsets[last][0] < cursor:
            last += 1
        if offsets[last - 1][1] != cursor:
            raise ContentNotRendered(f"assistant turn {turn} does not end on a token boundary (char {cursor})")
        # `last` is the first token after the content; it belongs to the turn when it ends it.
        if last < len(input_ids) and input_ids[last] in eot_ids:
            last += 1
        for index in range(first, last):
            mask[index] = 1
    return mask


def tokenize_conversations(tokenizer, rows: dict[str, list], settings: LabelSettings) -> dict[str, list]:
    """Batched: `rows` has `id` and `messages`; returns token columns plus a per-row `status`.

    Output columns: id, input_ids, labels, n_tokens, n_trainable, status (`ok`, `truncated`,
    `dropped:over_length`, `dropped:no_trainable_tokens`, `dropped:content_not_rendered`) and
    detail (why, for the last one). Dropped rows keep empty token lists.
    """
    kwargs = _template_kwargs(settings)
    conversations = [[{"role": m["role"], "content": m["content"]} for m in messages] for messages in rows["messages"]]
    texts = tokenizer.apply_chat_template(conversations, tokenize=False, **kwargs)
    encoded = tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True)
    use_template = template_has_generation_markers(tokenizer)
    if use_template:
        # One call per conversation: transformers' batched path for assistant masks is slower
        # (it pads the batch), and rendering is per conversation anyway.
        templated = [
            tokenizer.apply_chat_template(conversation, tokenize=True, return_dict=True, return_assistant_tokens_mask=True, **kwargs)
            for conversation in conversations
        ]
    eot_ids = end_of_turn_ids(tokenizer)
    out: dict[str, list] = {k: [] for k in ("id", "input_ids", "labels", "n_tokens", "n_trainable", "status", "detail")}

    def emit(row_id, input_ids, labels, trainable, status, detail=None):
        out["id"].append(row_id)
        out["input_ids"].append(input_ids)
        out["labels"].append(labels)
        out["n_tokens"].append(len(input_ids))
        out["n_trainable"].append(trainable if input_ids else 0)
        out["status"].append(status)
        out["detail"].append(detail)

    for index, row_id in enumerate(rows["id"]):
        input_ids = list(encoded["input_ids"][index])
        try:
            mask = independent_assistant_mask(texts[index], encoded["offset_mapping"][index], input_ids, conversations[index], eot_ids)
        except ContentNotRendered as exc:
            emit(row_id, [], [], 0, "dropped:content_not_rendered", str(exc))
            continue
        if use_template:
            if list(templated[index]["input_ids"]) != input_ids:
                raise LabelMaskMismatch(f"row {row_id}: tokenizing the rendered text differs from apply_chat_template(tokenize=True)")
            template_mask = list(templated[index]["assistant_masks"])
            if template_mask != mask:
                diff = [i for i, (a, b) in enumerate(zip(template_mask, mask)) if a != b]
                shown = tokenizer.convert_ids_to_tokens([input_ids[i] for i in diff[:8]])
                raise LabelMaskMismatch(
                    f"row {row_id}: the chat template's generation mask and the independent assistant mask differ at "
                    f"{len(diff)} token(s), first positions {diff[:8]} (tokens {shown}); fix the template's "
                    "{% generation %} markers or the messages"
                )
        labels = [token if keep else IGNORE_INDEX for token, keep in zip(input_ids, mask)]
        status = "ok"
        if len(input_ids) > settings.max_length:
            if settings.over_length == "truncate":
                input_ids, labels, status = input_ids[: settings.max_length], labels[: settings.max_length], "truncated"
            else:
                input_ids, labels, status = [], [], "dropped:over_length"
        trainable = sum(1 for label in labels if label != IGNORE_INDEX)
        if status != "dropped:over_length" and trainable == 0:
            input_ids, labels, status = [], [], "dropped:no_trainable_tokens"
        emit(row_id, input_ids, labels, trainable, status)
    return out


def _map_batch(batch: dict[str, list], tokenizer, settings: LabelSettings) -> dict[str, list]:
    result = tokenize_conversations(tokenizer, batch, settings)
    del result["id"]  # kept from the input column
    return result


def _token_features():
    import datasets

    tokens = datasets.List(datasets.Value("int32"))  # token ids fit int32: half the bytes of int64
    return datasets.Features(
        {"id": datasets.Value("string"), "input_ids": tokens, "labels": tokens, "n_tokens": datasets.Value("int64"),
         "n_trainable": datasets.Value("int64"), "status": datasets.Value("string"), "detail": datasets.Value("string")}
    )


def tokenize_dataset(tokenizer, batches: Iterable, settings: LabelSettings, batch_size: int, num_proc: int, cache_dir: Path):
    """Tokenize conversations given as Arrow batches (`id`, `messages`) with `datasets.map`
    (batched, `num_proc` worker processes); returns a Dataset memory-mapped from `cache_dir`.

    Nothing here holds the whole table: the batches are streamed into an Arrow file, `map` reads
    it memory-mapped and writes its output to disk, so memory stays at a few batches per worker
    whatever the number of rows (benchmarks/full_scale.py)."""
    import datasets
    import pyarrow as pa

    source = Path(cache_dir) / "conversations.arrow"
    writer, rows = None, 0
    with pa.OSFile(str(source), "wb") as sink:
        for batch in batches:
            batch = batch.select(["id", "messages"])
            if writer is None:
                writer = pa.ipc.new_stream(sink, batch.schema)
            writer.write(batch)
            rows += batch.num_rows
        if writer is None:  # an empty table: an empty file with the conversation schema
            message = pa.struct([("role", pa.string()), ("content", pa.string())])
            writer = pa.ipc.new_stream(sink, pa.schema([("id", pa.string()), ("messages", pa.list_(message))]))
        writer.close()
    dataset = datasets.Dataset.from_file(str(source))
    return dataset.map(
        _map_batch,
        batched=True,
        batch_size=batch_size,
        num_proc=num_proc if num_proc > 1 and rows > batch_size else None,
        fn_kwargs={"tokenizer": tokenizer, "settings": settings},
        remove_columns=["messages"],
        features=_token_features(),
        cache_file_name=str(Path(cache_dir) / "tokenized.arrow"),
        desc="tokenizing (chat template, assistant-only labels)",
        load_from_cache_file=False,
    )


def count_chat_tokens(tokenizer, conversations: Sequence, enable_thinking: bool | None = False, batch_size: int = 1000) -> list[int]:
    """Tokens of each conversation rendered with the chat template (dataset card statistics)."""
    kwargs = {} if enable_thinking is None else {"enable_thinking": enable_thinking}
    counts: list[int] = []
    for start in range(0, len(conversations), batch_size):
        batch = [[{"role": m["role"], "content": m["content"]} for m in conv] for conv in conversations[start : start + batch_size]]
        texts = tokenizer.apply_chat_template(batch, tokenize=False, **kwargs)
        counts.extend(len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"])
    return counts
