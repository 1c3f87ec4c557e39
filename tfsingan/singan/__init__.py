"""SinGAN: a generative model learned from a single natural image (Shaham et al., ICCV 2019)."""
