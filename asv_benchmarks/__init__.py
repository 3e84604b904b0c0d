"""asv benchmarks for fastloss, generated from the loss registry (see _common.py)."""
