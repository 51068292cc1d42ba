"""Autoregressive family: PixelCNN, Gated PixelCNN, PixelCNN++, PixelRNN."""
