"""The Luth-SFT dataset card says where every split comes from: `source_datasets` in the Hub's
header format, and per source its hub dataset, license and the models that generated or judged it."""

import yaml

from luth_pipeline.core.config import load_profile
from luth_pipeline.core.sft.hf_dataset import TokenStats, card_provenance, render_card


def test_card_names_source_datasets_licenses_and_generating_models():
    split_sources = {"luth_smoltalk2": "smoltalk2", "luth_tulu3_persona_math": "tulu3_persona_math", "luth_scholar": "scholar"}
    card = render_card(
        pretty_name="Luth-SFT", license="odc-by", language=["fr"],
        split_files={split: [f"data/{split}-00000-of-00001.parquet"] for split in split_sources},
        split_rows={"luth_smoltalk2": 50_474, "luth_tulu3_persona_math": 47_440, "luth_scholar": 30_282},
        split_sources=split_sources, token_stats={s: TokenStats.of([10, 20]) for s in split_sources},
        tokenizer_name="qwen3-0.6b", step_counts={}, removed_per_eval_set={}, ngram=13, missing=[], seed=42,
        **card_provenance(load_profile("gpu")),
    )
    header = yaml.safe_load(card.split("---")[1])
    assert header["source_datasets"] == ["extended|HuggingFaceTB/smoltalk2", "extended|allenai/tulu-3-sft-personas-math", "original"]
    assert "| luth_tulu3_persona_math | tulu3_persona_math | odc-by | 47,440 |" in card  # per-split size and license
    assert ("| tulu3_persona_math | `allenai/tulu-3-sft-personas-math` | odc-by | translation: `Qwen/Qwen3-32B`; "
            "answers (teacher): `Qwen/Qwen3-32B`; judge: `Qwen/Qwen3-32B` |") in card
    assert "| scholar | original: French Bac and CPGE exam PDFs" in card
    assert "extraction: `gemini-2.5-flash-lite`; refinement: `gemini-2.5-flash-lite`" in card
    assert "| smoltalk2 | `HuggingFaceTB/smoltalk2` | apache-2.0 | – (language ID and filters only) |" in card
