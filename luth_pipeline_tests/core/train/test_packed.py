"""Packed, document-masked training computes exactly what training each document alone would."""

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from luth_pipeline.core.train.attention import FLEX_BLOCK, fixed_row_width, is_varlen, use_flex_attention_in_autocast_dtype
from luth_pipeline.core.train.packed import IGNORE_INDEX, PackedCollator, PackedDataset, shift_labels_within_documents
from luth_pipeline_tests.core.train.helpers import fixture_conversations, pack, tokenized_docs


@pytest.fixture(scope="module")
def tokenizer(tiny_model_path):
    return AutoTokenizer.from_pretrained(tiny_model_path)


@pytest.fixture(scope="module")
def docs(tokenizer):
    return tokenized_docs(tokenizer, fixture_conversations(12), 1024)


def _model(path, attn):
    if attn == "flex_attention":
        use_flex_attention_in_autocast_dtype()  # as the engine does
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation=attn)
    model.config.use_cache = False  # a KV cache disables transformers' packed-sequence detection
    return model


def engine_batch(tokenizer, table, attn: str) -> dict:
    """The micro-batch exactly as the light engine shapes it for this attention backend."""
    rows = list(PackedDataset(table.iter_rows(named=True)))
    width = fixed_row_width(attn, max(len(r["input_ids"]) for r in rows))
    return PackedCollator(pad_token_id=tokenizer.pad_token_id, flatten=is_varlen(attn), pad_to_length=width)(rows)


def packed_loss(model, batch, grads: bool = True, device: str = "cpu", autocast: bool = False):
    """The packed micro-batch's loss (mean over its targets) and, with `grads`, its gradients."""
    batch = {k: v.to(device) for k, v in batch.items()}
    n_items = int((batch["shift_labels"] != IGNORE_INDEX).sum())
    with torch.set_grad_enabled(grads), torch.autocast(device, dtype=torch.bfloat16, enabled=autocast):
        loss = model(**batch, num_items_in_batch=n_items).loss
    if not grads:
        return loss.item(), {}
    loss.backward()
    out = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    return loss.item(), out


def one_by_one_loss(model, docs, grads: bool = True, device: str = "cpu", autocast: bool = False):
    """Each document alone, unpacked; losses and gradients weighted by its number of targets."""
    n_items = sum(sum(1 for v in d["labels"][1:] if v != IGNORE_INDEX) for d in docs)
    total = 0.0
    for doc in docs:
        labels = torch.tensor([doc["labels"]], device=device)
        k = int((labels[0, 1:] != IGNORE_INDEX).sum())
        with torch.set_grad_enabled(grads), torch.autocast(device, dtype=torch.bfloat16, enabled=autocast):
            loss = model(input_ids=torch.tensor([doc["input_ids"]], device=device), labels=labels).loss
        if grads:
            (loss * k / n_items).backward()  # token-weighted: the same normalisation as the packed batch
        total += loss.item() * k
    if not grads:
        return total / n_items, {}
    out = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    return total / n_items, out


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_packed_loss_and_gradients_equal_documents_one_by_one(tiny_model_path, tokenizer, docs, attn):
    table = pack(docs, capacity=700)
    assert table.height < len(docs), "several documents per bin, or the test proves nothing"
    model = _model(tiny_model_path, attn)
    packed, packed_grads = packed_loss(model, engine_batch(tokenizer, table, attn))
    one_by_one, doc_grads = one_by_one_loss(model, docs)
    assert packed == pytest.approx(one_by_one, rel=1e-5, abs=1e-6)
    for name, grad in doc_grads.items():
        torch.testing.assert_close(packed_grads[name], grad, rtol=1e-4, atol=1e-6, msg=f"gradient of {name}")


@pytest.mark.slow
def test_flex_attention_packed_loss_equals_documents_one_by_one(tiny_model_path, tokenizer, docs):
    """flex_attention on CPU: forward only (torch 2.13 has no CPU backward for it; the GPU test
    below checks its gradients). The BlockMask comes from the engine's fixed-width rows."""
    table = pack(docs, capacity=700)
    batch = engine_batch(tokenizer, table, "flex_attention")
    assert batch["input_ids"].shape[1] % FLEX_BLOCK == 0 and batch["input_ids"].shape[1] >= 700
    model = _model(tiny_model_path, "flex_attention")
    packed, _ = packed_loss(model, batch, grads=False)
    model.set_attn_implementation("eager")  # the unpacked reference (flex would compile once per document length)
    one_by_one, _ = one_by_one_loss(model, docs, grads=False)
    assert packed == pytest.approx(one_by_one, rel=1e-5, abs=1e-6)


def test_without_document_masking_later_documents_change(tiny_model_path, tokenizer, docs):
    """Control: the same bins with one running position range attend across documents."""
    table = pack(docs, capacity=700)
    batch = PackedCollator(pad_token_id=tokenizer.pad_token_id)(list(PackedDataset(table.iter_rows(named=True))))
    model = _model(tiny_model_path, "sdpa").eval()
    with torch.no_grad():
        masked = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"]).logits
        leaky = model(input_ids=batch["input_ids"]).logits
    first_doc = table["seq_lens"].to_list()[0][0]
    torch.testing.assert_close(masked[0, :first_doc], leaky[0, :first_doc], rtol=1e-5, atol=1e-5)
    assert (masked[0, first_doc:] - leaky[0, first_doc:]).abs().max() > 1e-2


def test_padding_is_its_own_document(tiny_model_path, tokenizer, docs):
    rows = list(PackedDataset(pack(docs[:3], capacity=2000).iter_rows(named=True)))
    model = _model(tiny_model_path, "sdpa").eval()
    plain = PackedCollator(pad_token_id=tokenizer.pad_token_id)(rows)
    padded = PackedCollator(pad_token_id=tokenizer.pad_token_id, pad_to_multiple_of=64)(rows)
    n = plain["input_ids"].shape[1]
    assert padded["input_ids"].shape[1] > n
    assert (padded["shift_labels"][:, n - 1 :] == IGNORE_INDEX).all()
    with torch.no_grad():
        a = model(input_ids=plain["input_ids"], position_ids=plain["position_ids"]).logits
        b = model(input_ids=padded["input_ids"], position_ids=padded["position_ids"]).logits[:, :n]
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_flattened_batch_for_varlen_attention_keeps_every_document(tokenizer, docs):
    rows = list(PackedDataset(pack(docs, capacity=700).iter_rows(named=True)))
    flat = PackedCollator(pad_token_id=tokenizer.pad_token_id, flatten=True)(rows)
    assert flat["input_ids"].shape == (1, sum(len(d["input_ids"]) for d in docs))
    starts = int((flat["position_ids"][0] == 0).sum())
    assert starts == len(docs)


def test_targets_never_cross_documents():
    labels = torch.tensor([[5, 6, 7, 8, 9, 10]])
    positions = torch.tensor([[0, 1, 2, 0, 1, 0]])
    assert shift_labels_within_documents(labels, positions).tolist() == [[6, 7, -100, 9, -100, -100]]


def test_labels_cover_only_assistant_tokens(tokenizer, docs):
    """Every loss target of a packed batch is an assistant token (template generation mask)."""
    conversations = {c["id"]: c for c in fixture_conversations(12)}
    bins = pack(docs, capacity=700)
    batch = PackedCollator(pad_token_id=tokenizer.pad_token_id)(list(PackedDataset(bins.iter_rows(named=True))))
    checked = 0
    for row, (seq_lens, doc_ids) in enumerate(zip(bins["seq_lens"].to_list(), bins["doc_ids"].to_list())):
        start = 0
        for length, doc_id in zip(seq_lens, doc_ids):
            templated = tokenizer.apply_chat_template(
                conversations[doc_id]["messages"], return_dict=True, return_assistant_tokens_mask=True, enable_thinking=False
            )
            assert batch["input_ids"][row, start : start + length].tolist() == templated["input_ids"][:length]
            assistant = templated["assistant_masks"][:length]
            targets = batch["shift_labels"][row, start : start + length].tolist()
            for t, target in enumerate(targets):
                if target == IGNORE_INDEX:
                    continue
                assert t + 1 < length, f"{doc_id}: a target past the document end"
                assert assistant[t + 1] == 1, f"{doc_id}: non-assistant token {t + 1} is a loss target"
                assert target == templated["input_ids"][t + 1]
                checked += 1
            # …and every assistant token (after the first position) is trained on.
            assert sum(assistant[1:]) == sum(1 for x in targets if x != IGNORE_INDEX)
            start += length
    assert checked > 100


def test_malformed_bin_is_named():
    with pytest.raises(ValueError, match="row 1: columns differ in length"):
        PackedDataset([
            {"input_ids": [1, 2], "labels": [1, 2], "position_ids": [0, 1]},
            {"input_ids": [1, 2], "labels": [1], "position_ids": [0, 1]},
        ])
