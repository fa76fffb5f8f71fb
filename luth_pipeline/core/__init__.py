"""The science of the Luth recipe, as plain Python (no Dagster imports anywhere under core/)."""
