"""Evaluation: model outputs turned into decisions and scores (e.g. ImageNet-1k → 16 classes)."""
