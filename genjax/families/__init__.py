"""Model families; each folder exposes ``make_family(config) -> Family``."""
