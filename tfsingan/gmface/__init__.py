"""GmFace: a face image as a sum of 2-D Gaussians (arXiv 2008.00752).

`params.GmFaceParams` (storage, rendering), `model.GmNet` (the Keras model),
`fit` (initialisation, Levenberg-Marquardt), `trainer.run` (fits a face or a common
face), `transforms` (translation, scaling, rotation in closed form; dissection).
"""
