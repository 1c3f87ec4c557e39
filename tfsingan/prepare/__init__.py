"""GANimation training data (Pumarola et al., ECCV 2018 on-disk format) from photos and videos.

`python -m tfsingan.prepare --input=DIR_OR_FILES --out=DATA`; the library entry
is `tfsingan.prepare.pipeline.run(PrepareConfig(...), out)`.
"""
