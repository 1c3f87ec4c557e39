"""GANimation (Pumarola et al., ECCV 2018): anatomically-aware facial animation from action units."""
