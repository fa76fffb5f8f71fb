"""Every plot an asset attaches is drawn in place on the asset page: its thumbnail entry is under the
length the installed Dagster UI draws in place, and decodes to a real (non-blank) image; the full
plot stays one click away in `<key>_full`."""

from __future__ import annotations

import base64
import io
import math
import re
from pathlib import Path

import dagster_webserver
import numpy as np
import pytest
from PIL import Image

from luth_pipeline.core.eval.report import bar_chart_png, build_comparison
from luth_pipeline.core.french.report import language_histogram_png
from luth_pipeline.core.merge.report import schedule_plot_png
from luth_pipeline.core.plots import THUMBNAIL_MAX_BYTES, THUMBNAIL_SIZES, png_bytes, pyplot
from luth_pipeline.core.scholar.report import subject_mix_png
from luth_pipeline.core.sft.plots import length_histogram_png
from luth_pipeline.core.storage import DatasetStore
from luth_pipeline.core.train.plots import loss_curve_png
from luth_pipeline.core.tulu.plots import char_length_histogram_png
from luth_pipeline.defs.metadata import INLINE_MARKDOWN_LIMIT, plot_metadata
from luth_pipeline.defs.publish import publish_plot
from luth_pipeline_tests.core.eval.test_report import REFERENCES, _scores

DATA_URI = re.compile(r"^!\[[^\]]*\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)$")


def _decode(markdown: str) -> Image.Image:
    match = DATA_URI.match(markdown)
    assert match, f"not a markdown image with a PNG data URI: {markdown[:80]}…"
    image = Image.open(io.BytesIO(base64.b64decode(match.group(1))))
    image.load()  # decodes every row: a truncated or corrupt PNG raises here
    return image


def _every_plot() -> dict[str, dict]:
    """Each stage's plot, rendered by the stage's own function on small data, as the asset attaches it."""
    rng = np.random.default_rng(0)
    steps = list(range(1, 61))
    losses = [2.5 * math.exp(-s / 20) + 0.4 + 0.1 * rng.random() for s in steps]
    plots = {
        "french": plot_metadata(language_histogram_png({"fr": 171, "en": 3, "de": 1}, "aya_dataset: detected language"),
                                "languages", "language_plot"),
        "scholar": plot_metadata(subject_mix_png({"maths": 0.67, "physique": 0.2, "chimie": 0.13},
                                                 {"maths": 0.5, "physique": 0.25, "chimie": 0.15, "svt": 0.1}, "Subject mix"),
                                 "subject mix", "subject_mix_plot"),
        "train": plot_metadata(loss_curve_png(steps, losses, [2e-5 * min(1, s / 6) for s in steps],
                                              [900 + 200 * rng.random() for _ in steps], "finetuned_checkpoint [tiny]"),
                               "loss curve", "loss_curve"),
        "eval": plot_metadata(bar_chart_png(build_comparison(_scores(), REFERENCES)), "scores", "chart"),
        "merge": plot_metadata(schedule_plot_png({"self_attn": [i / 7 for i in range(8)], "mlp": [1 - i / 7 for i in range(8)]},
                                                 "tiny.merged.slerp: fine-tuned share per layer"),
                               "layer schedule", "layer_schedule_plot"),
        "sft": plot_metadata(length_histogram_png(rng.lognormal(5, 0.8, 500).astype(int), rng.integers(200, 1024, 60), 1024,
                                                  "luth_sft_packed [tiny]"), "plot", "plot"),
    }
    plots["tulu"] = plot_metadata(char_length_histogram_png({"smoltalk2": rng.integers(20, 2000, 80).tolist(),
                                                        "aya": rng.integers(20, 900, 40).tolist()},
                                                       "tulu_prompts_fr: prompt lengths (characters) per source"),
                                  "lengths", "length_plot")
    return plots


def test_every_plot_has_an_entry_the_asset_page_draws_in_place():
    plots = _every_plot()
    assert len(plots) == 7
    for stage, entries in plots.items():
        (key, thumbnail), (full_key, full) = entries.items()
        assert full_key == f"{key}_full", stage
        assert len(thumbnail.value) < INLINE_MARKDOWN_LIMIT, f"{stage}: {len(thumbnail.value)} characters"
        small, large = _decode(thumbnail.value), _decode(full.value)
        assert small.format == large.format == "PNG"
        assert small.width <= THUMBNAIL_SIZES[0][0] < large.width, stage
        # not a blank square: the data marks survive (at least a background and one colour of ink)
        assert len(small.convert("RGB").getcolors(256) or []) >= 2, stage
        assert len(full.value) > INLINE_MARKDOWN_LIMIT, f"{stage}: the full plot is the pop-up entry"


def test_a_published_plot_file_is_the_full_plot_beside_the_tables(tmp_path):
    store = DatasetStore(str(tmp_path / "data"))
    png = char_length_histogram_png({"smoltalk2": [10, 20, 300, 40]}, "lengths")
    entries = publish_plot(store, "tulu_prompts_fr", png, "lengths", "length_plot", filename="lengths.png")
    assert list(entries) == ["length_plot", "length_plot_full", "length_plot_path"]
    path = Path(entries["length_plot_path"].value)
    assert path == store.local_dir("tulu_prompts_fr") / "lengths.png" and path.parent == Path(store.uri("tulu_prompts_fr")).parent
    full = base64.b64decode(DATA_URI.match(entries["length_plot_full"].value).group(1))
    assert full == path.read_bytes() == png
    assert [p.name for p in path.parent.iterdir()] == ["lengths.png"]  # written atomically: no temporary file left


def test_a_busy_figure_falls_back_to_a_smaller_thumbnail_that_fits():
    # noise in many colours: the first (largest) thumbnail size cannot fit the budget
    rng = np.random.default_rng(1)
    fig, ax = pyplot().subplots(figsize=(6, 3))
    for i in range(12):
        ax.plot(rng.random(200), color=f"C{i % 10}")
    png = png_bytes(fig)
    assert len(png.thumbnail) <= THUMBNAIL_MAX_BYTES
    assert Image.open(io.BytesIO(png.thumbnail)).width < THUMBNAIL_SIZES[0][0]
    assert len(plot_metadata(png, "noise", "noise")["noise"].value) < INLINE_MARKDOWN_LIMIT


def test_a_png_without_a_thumbnail_is_refused_with_what_to_pass():
    with pytest.raises(TypeError, match=r"plot_metadata\('chart'\): pass the PNG that luth_pipeline.core.plots.png_bytes returns"):
        plot_metadata(b"\x89PNG\r\n\x1a\n", "scores", "chart")


def test_a_title_too_long_for_the_inline_entry_is_named():
    fig, ax = pyplot().subplots()
    ax.bar(["fr", "en"], [10, 1])
    with pytest.raises(ValueError, match=r"plot_metadata\('languages'\): the thumbnail entry is \d+ characters.*shorten the title"):
        plot_metadata(png_bytes(fig), "x" * INLINE_MARKDOWN_LIMIT, "languages")


def test_the_limit_is_the_one_the_installed_dagster_ui_applies():
    # ui-core MetadataEntry.tsx, minified: `case"MarkdownMetadataEntry":return n&&t.mdStr.length<1e3?…`
    chunks = Path(dagster_webserver.__file__).parent / "webapp" / "build" / "_next" / "static" / "chunks"
    limits = {float(m) for js in chunks.glob("*.js")
              for m in re.findall(r'"MarkdownMetadataEntry":return \w+&&\w+\.mdStr\.length<([0-9e.]+)\?', js.read_text(errors="ignore"))}
    assert limits == {INLINE_MARKDOWN_LIMIT}, f"the Dagster UI draws markdown in place under {limits} characters"
