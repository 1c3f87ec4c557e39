"""Evaluation metrics: SIFID and diversity (SinGAN, Shaham et al., 2019), AU error (GANimation, Pumarola et al., 2018)."""
