"""Displacement model of the 17 GANimation action units on the MediaPipe face mesh, after FACS (Ekman & Friesen, 1978).

One table, `MOVES`: for each AU of `tfsingan.ganimation.aus.AU_NAMES`, the moves
that intensity 1 makes (OpenFace's 5 = "E", maximum evidence). A move names its
anchor landmarks (groups of `tfsingan.synthetic.mesh`), how far they go and in
which direction, how far the skin around them is dragged along, and which part
of the face may be dragged. `tfsingan.synthetic.warp` turns the moved landmarks
into a piecewise-affine warp of the photo.

Units and directions, in the face's own frame (so a tilted or mirrored face
moves the same way):
  * distances are fractions of the inter-ocular distance (IOD, between the two
    eye centres; about 63 mm on an adult, so 0.1 IOD is about 6 mm);
  * `out` is away from the face's midline (negative: towards it), `up` towards
    the forehead (negative: towards the chin).
Sizes are chosen so that intensity 1 is a strong but anatomically possible
display (e.g. a full smile lifts the lip corners by about 10 mm and widens the
mouth by about 15 mm; a jaw drop opens the mouth by about 14 mm at the chin),
from the FACS manual's descriptions of each AU's appearance changes, quoted
short in `comment`. The skin between moved anchors and the fixed ring around
the face (see warp.py) stretches; what a warp cannot show (furrows, wrinkles,
the dimple of AU14, the bulge of the cheek) is not drawn.

Fields of `Move`:
  anchors   landmark indices, or a (right, left) pair of index tuples;
  out, up   displacement of the anchors at intensity 1, IOD units;
  radius    Gaussian falloff (IOD) with which landmarks near an anchor follow it
            (0: the anchors only);
  region    which landmarks may follow (see warp.REGIONS): "below_eyes",
            "brows", "upper_lids", "lower_lids", "upper_lip", "lower_face";
  profile   "flat" (every anchor moves fully) or "arch" (along a lip or lid
            polyline: the middle moves fully, the corners not at all);
  toward    instead of out/up: move the anchors this fraction of the way to the
            matching landmarks of another polyline (the blink closes the upper
            lid onto the lower one).
"""

import dataclasses

from tfsingan.synthetic import mesh


@dataclasses.dataclass(frozen=True)
class Move:
  anchors: tuple
  out: float = 0.0
  up: float = 0.0
  radius: float = 0.0
  region: str = "below_eyes"
  profile: str = "flat"
  toward: tuple = ()
  fraction: float = 0.0
  comment: str = ""


_INNER_BROWS = ((66, 107, 65, 55), (296, 336, 295, 285))
_OUTER_BROWS = ((70, 63, 46, 53), (300, 293, 276, 283))
_ALL_BROWS = tuple(u + l for u, l in zip(mesh.BROW_UPPER, mesh.BROW_LOWER))
_CORNERS = tuple(tuple(c) for c in mesh.LIP_CORNERS)
_CHIN_BOSS = (152, 148, 377, 176, 400, 199, 200, 18, 175)

MOVES = {
    "AU01": (
        Move(_INNER_BROWS, up=0.10, radius=0.20, region="brows",
             comment="inner brow raiser: pulls the inner (medial) ends of the brows up, "
                     "the brows become oblique; the forehead skin above them rises"),
    ),
    "AU02": (
        Move(_OUTER_BROWS, up=0.10, out=0.01, radius=0.20, region="brows",
             comment="outer brow raiser: pulls the lateral ends of the brows up, an arched "
                     "brow shape; the lateral lid fold is stretched"),
    ),
    "AU04": (
        Move(_ALL_BROWS, up=-0.06, out=-0.03, radius=0.18, region="brows",
             comment="brow lowerer: lowers the brows and draws them together; the skin "
                     "between the brows bunches (vertical furrows, not drawn)"),
        Move(_INNER_BROWS, up=-0.02, out=-0.02, radius=0.10, region="brows",
             comment="the medial ends move most"),
    ),
    "AU05": (
        Move(mesh.EYE_UPPER, up=0.05, radius=0.08, region="upper_lids", profile="arch",
             comment="upper lid raiser: raises the upper lid, widening the eye opening; "
                     "more sclera shows above the iris"),
    ),
    "AU06": (
        Move(mesh.CHEEKS, up=0.08, out=0.01, radius=0.25, region="lower_lids",
             comment="cheek raiser: lifts the cheeks and the infraorbital skin, bags "
                     "below the eyes, narrows the eye opening from below"),
        Move(mesh.EYE_LOWER, up=0.025, region="lower_lids", profile="arch",
             comment="the lower lid is pushed up"),
    ),
    "AU07": (
        Move(mesh.EYE_LOWER, up=0.035, radius=0.06, region="lower_lids", profile="arch",
             comment="lid tightener: raises and straightens the lower lid, narrowing the eye"),
        Move(mesh.EYE_UPPER, up=-0.015, radius=0.05, region="upper_lids", profile="arch",
             comment="the upper lid is tightened down a little"),
    ),
    "AU09": (
        Move(mesh.NOSE_WINGS, up=0.07, out=0.01, radius=0.15, region="upper_lip",
             comment="nose wrinkler: pulls the skin along the sides of the nose and the "
                     "nose wings up (wrinkles on the nose, not drawn)"),
        Move(mesh.LIPS_OUTER_UPPER, up=0.03, radius=0.08, region="upper_lip", profile="arch",
             comment="the upper lip is raised with it"),
        Move(_INNER_BROWS, up=-0.04, out=-0.01, radius=0.12, region="brows",
             comment="the medial brows are lowered"),
    ),
    "AU10": (
        Move(mesh.LIPS_OUTER_UPPER + mesh.LIPS_INNER_UPPER, up=0.07, radius=0.12,
             region="upper_lip", profile="arch",
             comment="upper lip raiser: raises the centre of the upper lip, which may "
                     "part the lips and show the upper teeth; deepens the nasolabial fold"),
        Move(mesh.NOSE_WINGS, up=0.02, radius=0.10, region="upper_lip",
             comment="the nose wings widen and rise a little"),
    ),
    "AU12": (
        Move(_CORNERS, up=0.16, out=0.12, radius=0.30, region="below_eyes",
             comment="lip corner puller: pulls the lip corners up and out (obliquely, "
                     "along the zygomatic major), deepens the nasolabial fold and raises "
                     "the cheek skin"),
    ),
    "AU14": (
        Move(_CORNERS, up=0.015, out=-0.03, radius=0.12, region="below_eyes",
             comment="dimpler: tightens the lip corners and pulls them inwards, a dimple "
                     "beside them (not drawn)"),
    ),
    "AU15": (
        Move(_CORNERS, up=-0.08, out=0.02, radius=0.25, region="below_eyes",
             comment="lip corner depressor: pulls the lip corners down, the lips angle "
                     "down at the corners"),
    ),
    "AU17": (
        Move(_CHIN_BOSS, up=0.06, radius=0.20, region="chin",
             comment="chin raiser: pushes the chin boss and the lower lip up, wrinkling "
                     "the chin"),
        Move(mesh.LIPS_OUTER_LOWER, up=0.03, region="chin", profile="arch",
             comment="the lower lip is pushed up and protrudes"),
    ),
    "AU20": (
        Move(_CORNERS, up=-0.015, out=0.10, radius=0.25, region="below_eyes",
             comment="lip stretcher: pulls the lip corners sideways (laterally), the "
                     "mouth elongates and the lips flatten"),
    ),
    "AU23": (
        Move(mesh.LIPS_OUTER_UPPER, up=-0.025, region="upper_lip", profile="arch",
             comment="lip tightener: tightens the lips, narrowing the red parts"),
        Move(mesh.LIPS_OUTER_LOWER, up=0.025, region="lower_face", profile="arch",
             comment="the lower red lip narrows from below"),
        Move(_CORNERS, out=-0.02, region="below_eyes", comment="the mouth gets a little narrower"),
    ),
    "AU25": (
        Move(mesh.LIPS_INNER_LOWER, up=-0.08, radius=0.10, region="lower_face", profile="arch",
             comment="lips part: the lips separate (the jaw may stay), showing the mouth "
                     "interior or teeth"),
        Move(mesh.LIPS_OUTER_LOWER, up=-0.06, radius=0.15, region="lower_face", profile="arch",
             comment="the lower lip goes down with its inner edge"),
        Move(mesh.LIPS_INNER_UPPER, up=0.015, region="upper_lip", profile="arch",
             comment="the upper lip's inner edge rises a little"),
    ),
    "AU26": (
        Move(_CHIN_BOSS, up=-0.22, radius=0.30, region="lower_face",
             comment="jaw drop: the mandible is lowered, the chin and the lower cheeks "
                     "go down"),
        Move(mesh.LIPS_OUTER_LOWER + mesh.LIPS_INNER_LOWER, up=-0.20, radius=0.10,
             region="lower_face", profile="arch",
             comment="the lower lip goes with the jaw and the lips part"),
        Move(_CORNERS, up=-0.07, radius=0.05, region="below_eyes",
             comment="the lip corners go down a little with the jaw"),
    ),
    "AU45": (
        Move(mesh.EYE_UPPER, radius=0.12, region="upper_lids", profile="arch",
             toward=mesh.EYE_LOWER, fraction=0.92,
             comment="blink (AU43 eyes closed at intensity 1): the upper lid comes down "
                     "onto the lower one; the lid skin above it stretches over the eye"),
        Move(mesh.EYE_LOWER, up=0.01, region="lower_lids", profile="arch",
             comment="the lower lid rises slightly"),
    ),
}
