"""Real faces for GANimation (Pumarola et al., ECCV 2018): detection with five
landmarks (MTCNN, Zhang et al. 2016), similarity alignment to a template
(ArcFace's, Deng et al. 2019, with a margin), the way back into the photo, and an
action-unit reader built on MediaPipe's Face Landmarker models (Kartynnik et al.
2019; Grishchenko et al. 2022) without OpenFace.

  dets = faces.detect(image01)                     # largest first
  aligned = faces.align(image01, dets[0].landmarks5, size=128)
  photo2 = faces.paste_back(image01, aligned, edited_crop, mask=attention)
  reading = faces.AUReader().read(image01, dets[0])   # reading.aus: 17 AUs in [0, 1]
"""

from tfsingan.faces.alignment import DEFAULT_MARGIN
from tfsingan.faces.alignment import DEFAULT_SIZE
from tfsingan.faces.alignment import TEMPLATE_5
from tfsingan.faces.alignment import Aligned
from tfsingan.faces.alignment import align
from tfsingan.faces.alignment import crop_box
from tfsingan.faces.alignment import footprint
from tfsingan.faces.alignment import paste_back
from tfsingan.faces.alignment import template
from tfsingan.faces.detection import Detection
from tfsingan.faces.detection import detect
from tfsingan.faces.detection import detect_one
from tfsingan.faces.au_reader import AU_TABLE
from tfsingan.faces.au_reader import AUReader
from tfsingan.faces.au_reader import AUReading
