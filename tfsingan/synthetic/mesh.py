"""Named groups of the 478 MediaPipe Face Mesh landmarks (Kartynnik et al., 2019), for the AU warp.

Where the indices come from: the contours that MediaPipe's Face Mesh solution
documents for its canonical 468-vertex mesh plus the 10 iris points of
Attention Mesh (Grishchenko et al., 2020): the lips, eyes, eyebrows and face
oval as closed or open polylines of vertex indices (mediapipe
`face_mesh_connections`, read as a reference, the indices are facts of the
model), and single vertices (nose tip, alae, cheeks, chin) picked by hand on the
landmarks of tests' photos drawn with their numbers
(benchmarks/results/warp_mesh_groups.png is that drawing).

"Right"/"left" are the subject's: the subject's right eye is on the image's
left in an unflipped photo. Nothing in the warp depends on which side is which:
every paired group is given as (right, left) and "outward" is measured from the
face's midline, so a mirrored photo with mirrored landmarks warps the same way.
Polylines run from the outer (lateral) end to the inner one, or for lips from
the right corner (61 / 78) to the left one (291 / 308).
"""

NUM_LANDMARKS = 478

# Lips: outer (vermilion border) and inner (the line where the lips meet).
LIPS_OUTER_UPPER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
LIPS_OUTER_LOWER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)
LIPS_INNER_UPPER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LIPS_INNER_LOWER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
LIP_CORNERS = ((61, 78), (291, 308))  # (right: outer, inner), (left: outer, inner)

# Eyes: lid margins from the outer corner to the inner corner.
EYE_UPPER = ((33, 246, 161, 160, 159, 158, 157, 173, 133),
             (263, 466, 388, 387, 386, 385, 384, 398, 362))
EYE_LOWER = ((33, 7, 163, 144, 145, 153, 154, 155, 133),
             (263, 249, 390, 373, 374, 380, 381, 382, 362))
IRIS = ((468, 469, 470, 471, 472), (473, 474, 475, 476, 477))  # centre first

# Eyebrows, outer to inner: the upper and the lower edge.
BROW_UPPER = ((70, 63, 105, 66, 107), (300, 293, 334, 296, 336))
BROW_LOWER = ((46, 53, 52, 65, 55), (276, 283, 282, 295, 285))

# Face oval, clockwise from the top of the forehead (10) to the chin (152) and back.
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379,
             378, 400, 377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127,
             162, 21, 54, 103, 67, 109)
CHIN = 152  # lowest point of the oval

# Nose: tip, and the alae (nose wings) with the nostril edges, (right, left).
NOSE_TIP = 1
NOSE_WINGS = ((129, 98, 64, 48, 102), (358, 327, 294, 278, 331))

# Cheeks: the malar eminence under each eye, (right, left).
CHEEKS = ((50, 101, 118, 117, 205, 36, 123), (280, 330, 347, 346, 425, 266, 352))
