"""Evaluation shared by every family: feature networks, sample-quality
metrics (FID, KID, precision/recall, IS), likelihood units, reference
statistics and the evaluators the loop runs."""
