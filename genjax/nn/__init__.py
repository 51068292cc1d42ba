"""Layers and likelihoods shared across families; every convolution goes through ``conv.Conv``."""
