"""Image-to-image translation (issue 23): pix2pix, CycleGAN, StarGAN. So far
the pieces the family will be built from: the fake-image history pool and the
translation losses (the networks are in genjax/nn: patchgan.py,
translation_generators.py, transposed.py)."""
