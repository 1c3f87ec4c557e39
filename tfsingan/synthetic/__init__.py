"""Procedural faces with known action units, the ground-truth harness for GANimation (Pumarola et al., 2018)."""

from tfsingan.synthetic.dataset import generate, load_identities, plan, true_target
from tfsingan.synthetic.faces import (AU_REGION, HAIR_STYLES, au_regions, landmarks, render,
                                      sample_aus, sample_identity)

__all__ = [
    "AU_REGION", "HAIR_STYLES", "au_regions", "generate", "landmarks", "load_identities",
    "plan", "render", "sample_aus", "sample_identity", "true_target",
]
