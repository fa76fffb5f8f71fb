"""The demo data the `local` profile runs on, shipped with the package (what each file is, how it
is made and its licence: README.md in this folder). The profile names these files by their path
from the repository root (`luth_pipeline/demo_data/...`); the generators write here."""

from pathlib import Path

DEMO_DATA = Path(__file__).resolve().parent
