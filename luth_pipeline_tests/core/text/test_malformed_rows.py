"""Property-based: malformed chat rows through every stage's entry point become rejects with a
reason (or the stage's own reject exception), never a crash."""

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from luth_pipeline.core.french import FrenchFilterConfig, default_steps, run_filters
from luth_pipeline.core.french.report import FRENCH_SCHEMA, REJECT_COLUMNS, frame
from luth_pipeline.core.scholar.anomalies import french_problem
from luth_pipeline.core.sft.normalize import RejectedRow, normalize_messages
from luth_pipeline.core.sources import MalformedRow, SourceConfig, to_messages
from luth_pipeline.core.text.chat import MAX_TURN_CHARS, ROLES, chat_problem, storable_messages
from luth_pipeline.core.tulu.checks import french_probability
from luth_pipeline.core.tulu.load import user_prompt

SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=40)
JSON_LIKE = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                         max_leaves=8)
PHRASES = st.sampled_from([
    "Bonjour, peux-tu m'expliquer la photosynthèse ?", "Les plantes captent la lumière du soleil grâce à la chlorophylle.",
    "Thanks, that helps a lot!", "   ", "", "https://fr.wikipedia.org/wiki/Paris_(France)", "👍", "```python\nx = 1\n```",
    "$x^2 + 1$", "a" * (MAX_TURN_CHARS + 1),
])
CONTENT = st.none() | st.integers() | st.lists(st.text(max_size=5), max_size=2) | st.text(max_size=80) | PHRASES
ROLE = st.sampled_from([*ROLES, "tool", "human", "gpt", "", None, 3]) | st.text(max_size=6)
TURN = st.fixed_dictionaries({"role": ROLE, "content": CONTENT}) | st.fixed_dictionaries({"from": ROLE, "value": CONTENT}) | JSON_LIKE
MESSAGES = st.lists(TURN, max_size=5) | JSON_LIKE
FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@FAST
@given(MESSAGES)
def test_chat_validation_never_raises_and_a_valid_chat_is_well_typed(messages):
    problem = chat_problem(messages)
    if problem is None:
        assert all(t["role"] in ROLES and isinstance(t["content"], str) and t["content"].strip() for t in messages)
    else:
        assert problem.reason and problem.detail
    pl.DataFrame({"messages": [storable_messages(messages)]}, schema={"messages": FRENCH_SCHEMA["messages"]})


@FAST
@given(st.lists(MESSAGES, min_size=1, max_size=4))
def test_french_filter_rejects_malformed_rows_with_a_reason(all_messages):
    rows = [{"id": f"t/{i}", "messages": m, "source": "t", "source_id": str(i), "parent_asset": None, "parent_id": None}
            for i, m in enumerate(all_messages)]
    result = run_filters(rows, default_steps(FrenchFilterConfig()))
    assert len(result.kept) + len(result.rejected) == len(rows)
    assert all(r["reason"] and r["reason_detail"] is not None for r in result.rejected)
    for row in result.kept:
        assert chat_problem(row["messages"]) is None
    frame(result.kept, FRENCH_SCHEMA)  # both tables can be written with their fixed schema
    frame(result.rejected, {**FRENCH_SCHEMA, **REJECT_COLUMNS})


@FAST
@given(MESSAGES, CONTENT, CONTENT)
def test_source_rows_either_normalize_or_raise_malformed_row(messages, prompt, response):
    for cfg, row in ((SourceConfig(hf_id="x/y", split="train", format="messages", messages_column="messages"), {"messages": messages}),
                     (SourceConfig(hf_id="x/y", split="train", format="pair", prompt_column="p", response_column="r"), {"p": prompt, "r": response})):
        try:
            out = to_messages(cfg, row)
        except MalformedRow as exc:
            assert exc.reason and exc.detail
        else:
            assert all(set(t) == {"role", "content"} and isinstance(t["content"], str) for t in out)


@FAST
@given(MESSAGES)
def test_sft_normalization_rejects_with_a_reason(messages):
    try:
        out = normalize_messages(messages)
    except RejectedRow as exc:
        assert str(exc).startswith("normalize:")
    else:
        assert out[-1]["role"] == "assistant" and chat_problem(out, required_roles=()) is None


@FAST
@given(MESSAGES, CONTENT)
def test_tulu_prompt_loading_names_what_is_missing(messages, prompt):
    found, why_not = user_prompt({"messages": messages, "prompt": prompt})
    assert (found is None) != (why_not is None)
    assert found is None or isinstance(found, str) and found.strip()


@FAST
@given(st.text(max_size=300) | PHRASES)
def test_language_checks_of_tulu_and_scholar_take_any_text(text):
    assert 0.0 <= french_probability(text) <= 1.0
    problem = french_problem(text, 0.5)
    assert problem is None or problem.startswith("not French")
