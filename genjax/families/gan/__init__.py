"""GAN family: MLP GAN, DCGAN, ResNet GANs, conditional GANs, DiffAugment/ADA."""
