"""SinGANimation (SinGAN + GANimation): one face photo -> a labelled expression dataset."""
