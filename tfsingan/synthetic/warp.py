"""Action units on a real photo by a piecewise-affine warp of its dense landmarks: real-texture ground truth for GANimation (Pumarola et al., 2018).

`render(photo, landmarks, aus)` moves the 478 MediaPipe Face Mesh landmarks of a
photo as the AU displacement model of `tfsingan.synthetic.au_moves` says, and
warps the photo with them:

  * the mesh: a Delaunay triangulation of the landmarks plus a fixed ring of
    points around the face (the face oval scaled by `RING_SCALE` about its
    centre). Delaunay rather than MediaPipe's own 852-triangle tesselation: it
    needs no table (the tesselation would be one more list of 2,556 indices to
    carry), it spans the ring as well, and every triangle has the same
    vertices before and after the move, which is all a piecewise-affine warp
    needs. The ring never moves, so every pixel outside it keeps its exact
    value; so does every pixel of a triangle none of whose corners moved.
  * each moved triangle maps its pixels back to the source triangle by an
    affine map; the photo is sampled there bilinearly (cv2.remap).
  * what a warp cannot show is painted: the mouth interior where the lips
    part (a dark cavity in the lips' own hue, an upper-teeth band under the
    upper lip), drawn antialiased. On a blink (AU45) the lid skin above the eye
    is stretched over it by the warp itself, so the closed lid is the photo's own
    lid texture.

`aus` are the target intensities in [0, 1] (OpenFace / 5); the photo is assumed
to show `source_aus` (zeros: a neutral face), and the warp applies the
difference, so a smiling photo rendered with AU12 = 0 un-smiles.
Intensity differences of 0 return the photo unchanged, bit for bit.

Coordinates: landmarks are (x, y) pixels of the photo (x right, y down),
pixel centres at integer coordinates as in OpenCV.
"""

import dataclasses
import functools

import cv2
import numpy as np

from tfsingan.common import image_io
from tfsingan.errors import UserInputError
from tfsingan.ganimation.aus import AU_NAMES, NUM_AUS
from tfsingan.synthetic import au_moves
from tfsingan.synthetic import mesh

# The fixed ring: the face oval scaled by this about its centre. 1.45 puts it about
# 0.5 IOD below the chin, room for the 0.22 IOD of a full jaw drop without folding.
RING_SCALE = 1.45
MIN_DELTA = 1e-6  # AU differences below this count as 0 (the photo comes back unchanged)

_POLYLINES = (mesh.LIPS_OUTER_UPPER, mesh.LIPS_OUTER_LOWER, mesh.LIPS_INNER_UPPER,
              mesh.LIPS_INNER_LOWER) + mesh.EYE_UPPER + mesh.EYE_LOWER


@dataclasses.dataclass(frozen=True)
class Frame:
  """The face's frame: origin between the eyes, unit axes `ex` (from one eye to the
  other, image left to right) and `ey` (towards the mouth), and the IOD in pixels."""
  origin: np.ndarray
  ex: np.ndarray
  ey: np.ndarray
  iod: float


def check_landmarks(landmarks, *, what="landmarks"):
  """(478, 2 or 3) finite -> (478, 2) float64 pixel coordinates."""
  lm = np.asarray(landmarks, np.float64)
  if lm.ndim != 2 or lm.shape[0] != mesh.NUM_LANDMARKS or lm.shape[1] not in (2, 3):
    raise UserInputError(f"{what}: shape {lm.shape}; expected ({mesh.NUM_LANDMARKS}, 2 or 3) "
                         "MediaPipe face-mesh landmarks in pixels")
  if not np.all(np.isfinite(lm)):
    raise UserInputError(f"{what}: not finite; expected landmark pixel coordinates")
  return lm[:, :2].copy()


def face_frame(landmarks):
  """The `Frame` of (478, 2) landmarks."""
  lm = np.asarray(landmarks, np.float64)[:, :2]
  eyes = [lm[list(u + l)].mean(0) for u, l in zip(mesh.EYE_UPPER, mesh.EYE_LOWER)]
  a, b = sorted(eyes, key=lambda p: p[0])
  iod = float(np.linalg.norm(b - a))
  if iod < 1.0:
    raise UserInputError(f"landmarks: the eyes are {iod:.2f} px apart; expected a face")
  ex = (b - a) / iod
  ey = np.array([-ex[1], ex[0]])
  origin = (a + b) / 2.0
  mouth = lm[list(mesh.LIPS_INNER_UPPER)].mean(0)
  if np.dot(mouth - origin, ey) < 0:  # a face upside down in the photo: ey points to the mouth
    ey = -ey
  return Frame(origin, ex, ey, iod)


def _uv(points, frame):
  d = (np.asarray(points, np.float64) - frame.origin) / frame.iod
  return d @ frame.ex, d @ frame.ey


def regions(landmarks, frame=None):
  """name -> (478,) bool: which landmarks a move of that region may drag along
  (the anchors of a move always move). See au_moves for the names."""
  lm = np.asarray(landmarks, np.float64)[:, :2]
  frame = frame or face_frame(lm)
  u, v = _uv(lm, frame)
  n = mesh.NUM_LANDMARKS

  def mask(indices):
    m = np.zeros(n, bool)
    m[list(indices)] = True
    return m

  eyes = mask(sum(mesh.EYE_UPPER + mesh.EYE_LOWER + mesh.IRIS, ()))
  corners = mask(sum(mesh.LIP_CORNERS, ()))
  upper_lip = mask(mesh.LIPS_OUTER_UPPER + mesh.LIPS_INNER_UPPER) & ~corners
  lower_lip = mask(mesh.LIPS_OUTER_LOWER + mesh.LIPS_INNER_LOWER) & ~corners
  # Each landmark belongs to the eye on its side of the midline.
  side = [np.sign(_uv(lm[list(up)], frame)[0].mean()) for up in mesh.EYE_UPPER]
  eye_v = np.zeros(n)
  eye_top = np.zeros(n)
  for s, up, lo in zip(side, mesh.EYE_UPPER, mesh.EYE_LOWER):
    here = np.sign(u) == s
    eye_v[here] = _uv(lm[list(up + lo)], frame)[1].mean()
    eye_top[here] = _uv(lm[list(up)], frame)[1].min()
  eye_bottom = max(_uv(lm[list(lo)], frame)[1].max() for lo in mesh.EYE_LOWER)
  # The line where the lips meet, as a function of u (flat beyond the corners).
  seam_u, seam_v = _uv((lm[list(mesh.LIPS_INNER_UPPER)] + lm[list(mesh.LIPS_INNER_LOWER)]) / 2,
                       frame)
  order = np.argsort(seam_u)
  seam = np.interp(u, seam_u[order], seam_v[order])
  below_eyes = ~eyes & (v > eye_bottom + 0.02)
  lower_face = (below_eyes & (v >= seam) & ~upper_lip & ~corners) | lower_lip
  return {
      "brows": ~eyes & (v < eye_top - 0.03),
      "upper_lids": mask(sum(mesh.EYE_UPPER, ())) | (~eyes & (v < eye_v)),
      "lower_lids": mask(sum(mesh.EYE_LOWER, ())) | (~eyes & (v > eye_v)),
      "below_eyes": below_eyes,
      "upper_lip": below_eyes & (v <= seam) & ~lower_lip,
      "lower_face": lower_face,
      "chin": lower_face & ~mask(mesh.LIPS_INNER_LOWER),
  }


def _profile(index):
  """Weight of a landmark in an "arch" move: sqrt(sin(pi t)) at its position t in its
  lip or lid polyline (0 at the corners, 1 in the middle; the square root keeps the
  middle of a lip moving nearly as one piece)."""
  for line in _POLYLINES:
    if index in line:
      return float(np.sqrt(np.sin(np.pi * line.index(index) / (len(line) - 1))))
  return 1.0


def _sides(anchors):
  """A move's anchors as a list of index tuples: a (right, left) pair or one tuple."""
  return list(anchors) if isinstance(anchors[0], tuple) else [tuple(anchors)]


def _move_displacement(move, lm, frame, masks):
  """(478, 2) pixel displacement of one move at intensity 1."""
  u, _ = _uv(lm, frame)
  anchors, vectors = [], []
  targets = _sides(move.toward) if move.toward else None
  for k, group in enumerate(_sides(move.anchors)):
    out_sign = np.sign(u[list(group)].mean())
    for j, a in enumerate(group):
      if targets:
        vec = move.fraction * (lm[targets[k][j]] - lm[a])
      else:
        s = out_sign if len(_sides(move.anchors)) > 1 else np.sign(u[a])
        vec = frame.iod * (move.out * s * frame.ex - move.up * frame.ey)
      if move.profile == "arch":
        vec = vec * _profile(a)
      anchors.append(a)
      vectors.append(vec)
  anchors, vectors = np.asarray(anchors), np.asarray(vectors)
  d = np.zeros_like(lm)
  if move.radius > 0:
    follow = masks[move.region].copy()
    follow[anchors] = False
    idx = np.flatnonzero(follow)
    dist = np.linalg.norm(lm[idx, None, :] - lm[None, anchors, :], axis=-1)
    w = np.exp(-0.5 * (dist / (move.radius * frame.iod)) ** 2)
    total = w.sum(1, keepdims=True)
    d[idx] = w.max(1, keepdims=True) * (w @ vectors) / np.maximum(total, 1e-12)
  d[anchors] = vectors
  return d


def au_displacements(landmarks):
  """(17, 478, 2): the pixel displacement of every landmark by each AU at intensity 1."""
  lm = check_landmarks(landmarks)
  # The images of one identity share its landmarks: a third of a 128 px render's time.
  return _au_displacements(lm.tobytes()).copy()


@functools.lru_cache(maxsize=32)
def _au_displacements(key):
  lm = np.frombuffer(key, np.float64).reshape(mesh.NUM_LANDMARKS, 2)
  frame = face_frame(lm)
  masks = regions(lm, frame)
  out = np.zeros((NUM_AUS, mesh.NUM_LANDMARKS, 2))
  for i, name in enumerate(AU_NAMES):
    for move in au_moves.MOVES[name]:
      out[i] += _move_displacement(move, lm, frame, masks)
  return out


def _delta(aus, source_aus):
  target = np.asarray(aus, np.float64)
  if target.shape != (NUM_AUS,) or not np.all(np.isfinite(target)):
    raise UserInputError(f"target AUs of shape {target.shape}; expected {NUM_AUS} finite values")
  source = np.zeros(NUM_AUS) if source_aus is None else np.asarray(source_aus, np.float64)
  if source.shape != (NUM_AUS,):
    raise UserInputError(f"source AUs of shape {source.shape}; expected {NUM_AUS} values")
  # A NaN source AU (the reader reported it missing) is taken as absent.
  return target - np.nan_to_num(source, nan=0.0)


def move_landmarks(landmarks, aus, *, source_aus=None):
  """(478, 2) landmarks after the AU change `aus - source_aus` (see `render`)."""
  lm = check_landmarks(landmarks)
  delta = _delta(aus, source_aus)
  moved = lm + np.tensordot(delta, au_displacements(lm), axes=1)
  frame = face_frame(lm)
  # Lips and lids never pass through each other: a crossing pair meets at its middle.
  for upper, lower in [(mesh.LIPS_INNER_UPPER, mesh.LIPS_INNER_LOWER)] + list(
      zip(mesh.EYE_UPPER, mesh.EYE_LOWER)):
    for a, b in zip(upper[1:-1], lower[1:-1]):
      gap = np.dot(moved[b] - moved[a], frame.ey)
      if gap < 0:
        moved[a] += 0.5 * gap * frame.ey
        moved[b] -= 0.5 * gap * frame.ey
  # The iris follows the eye opening: between the middles of the two lids, each
  # iris point moves as the lids do, interpolated by its height between them.
  for up, lo, iris in zip(mesh.EYE_UPPER, mesh.EYE_LOWER, mesh.IRIS):
    top, bottom = up[len(up) // 2], lo[len(lo) // 2]
    _, v = _uv(lm[[top, bottom] + list(iris)], frame)
    t = np.clip((v[2:] - v[0]) / max(v[1] - v[0], 1e-9), 0.0, 1.0)[:, None]
    moved[list(iris)] = lm[list(iris)] + (1 - t) * (moved[top] - lm[top]) + t * (
        moved[bottom] - lm[bottom])
  return moved


def ring(landmarks, bounds=None):
  """(36, 2): the fixed points around the face (the oval scaled by RING_SCALE), each
  pulled towards the oval's centre until it lies inside the convex polygon `bounds`
  ((K, 2) pixels, e.g. the footprint of the face's aligned crop) when one is given."""
  lm = np.asarray(landmarks, np.float64)[:, :2]
  oval = lm[list(mesh.FACE_OVAL)]
  centre = oval.mean(0)
  points = centre + RING_SCALE * (oval - centre)
  if bounds is None:
    return points
  poly = np.asarray(bounds, np.float32).reshape(-1, 1, 2)
  for i, r in enumerate(points):
    lo, hi = 0.0, 1.0  # bisection on the way from the centre: inside at lo
    if cv2.pointPolygonTest(poly, (float(r[0]), float(r[1])), True) >= 1.0:
      continue
    for _ in range(20):
      mid = (lo + hi) / 2
      q = centre + mid * (r - centre)
      lo, hi = (mid, hi) if cv2.pointPolygonTest(poly, (float(q[0]), float(q[1])), True) >= 1.0 \
          else (lo, mid)
    points[i] = centre + lo * (r - centre)
  return points


def face_region(landmarks, shape, bounds=None):
  """(H, W) bool: the pixels inside the fixed ring, the only ones `render` may change."""
  out = np.zeros(shape[:2], np.uint8)
  cv2.fillPoly(out, [np.round(ring(landmarks, bounds) * 16).astype(np.int32)], 1, cv2.LINE_8,
               shift=4)
  return out.astype(bool)


def _piecewise_affine(photo, src, dst):
  """Warps `photo` so that the points `src` go to `dst` (triangles of src's Delaunay)."""
  from scipy.spatial import Delaunay  # pylint: disable=import-outside-toplevel
  moved = np.linalg.norm(dst - src, axis=1) > 1e-6
  tris = Delaunay(src).simplices
  tris = tris[moved[tris].any(1)]
  # Triangles smaller than half a pixel (slivers of the Delaunay mesh, or squeezed
  # flat by the move) have an ill-conditioned map: leave their few pixels to the
  # neighbours, and draw large triangles last so that they own the shared edges.
  e1, e2 = dst[tris[:, 1]] - dst[tris[:, 0]], dst[tris[:, 2]] - dst[tris[:, 0]]
  area = 0.5 * np.abs(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])
  tris = tris[np.argsort(area)][np.sort(area) >= 0.5]
  out = photo.copy()
  if not len(tris):
    return out
  h, w = photo.shape[:2]
  corners = dst[tris].reshape(-1, 2)
  x0, y0 = np.maximum(np.floor(corners.min(0)).astype(int), 0)
  x1, y1 = np.minimum(np.ceil(corners.max(0)).astype(int) + 1, [w, h])
  if x1 <= x0 or y1 <= y0:
    return out
  ids = np.full((y1 - y0, x1 - x0), -1, np.int32)
  for j, t in enumerate(tris):
    cv2.fillConvexPoly(ids, np.round((dst[t] - [x0, y0]) * 16).astype(np.int32), j,
                       cv2.LINE_8, shift=4)
  # The affine maps dst -> src of every triangle, solved at once.
  d = np.concatenate([dst[tris], np.ones((len(tris), 3, 1))], axis=2)  # (T, 3, 3)
  affine = np.einsum("tij,tjk->tik", np.linalg.pinv(d), src[tris])  # (T, 3, 2)
  inside = ids >= 0
  yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
  a = affine[np.maximum(ids, 0)]  # (h, w, 3, 2)
  map_x = np.where(inside, a[..., 0, 0] * xx + a[..., 1, 0] * yy + a[..., 2, 0], xx)
  map_y = np.where(inside, a[..., 0, 1] * xx + a[..., 1, 1] * yy + a[..., 2, 1], yy)
  sampled = cv2.remap(photo, map_x.astype(np.float32), map_y.astype(np.float32),
                      cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
  out[y0:y1, x0:x1][inside] = sampled[inside]
  return out


def _poly_mask(points, x0, y0, h, w):
  m = np.zeros((h, w), np.uint8)
  cv2.fillPoly(m, [np.round((points - [x0, y0]) * 16).astype(np.int32)], 255, cv2.LINE_AA,
               shift=4)
  return m.astype(np.float32) / 255.0


def _paint_mouth(out, photo, lm, moved, frame):
  """Paints the mouth interior where the lips part more than in the photo."""
  inner = list(mesh.LIPS_INNER_UPPER) + list(mesh.LIPS_INNER_LOWER[::-1][1:-1])
  poly_t, poly_s = moved[inner], lm[inner]
  area_t = abs(cv2.contourArea(poly_t.astype(np.float32)))
  area_s = abs(cv2.contourArea(poly_s.astype(np.float32)))
  if area_t <= area_s + 1e-3 * frame.iod ** 2:
    return out
  alpha = 1.0 - area_s / area_t  # an open mouth in the photo keeps part of its own interior
  h, w = out.shape[:2]
  x0, y0 = np.maximum(np.floor(poly_t.min(0)).astype(int) - 2, 0)
  x1, y1 = np.minimum(np.ceil(poly_t.max(0)).astype(int) + 3, [w, h])
  if x1 <= x0 or y1 <= y0:
    return out
  cavity = _poly_mask(poly_t, x0, y0, y1 - y0, x1 - x0)
  # Colours from the photo's own lips (lighting and white balance follow the photo).
  outer = lm[list(mesh.LIPS_OUTER_UPPER) + list(mesh.LIPS_OUTER_LOWER[::-1][1:-1])]
  lx0, ly0 = np.maximum(np.floor(outer.min(0)).astype(int), 0)
  lx1, ly1 = np.minimum(np.ceil(outer.max(0)).astype(int) + 1, [w, h])
  lips = _poly_mask(outer, lx0, ly0, max(ly1 - ly0, 0), max(lx1 - lx0, 0)) > 0.5
  lip_colour = (np.median(photo[ly0:ly1, lx0:lx1][lips], axis=0) if lips.any()
                else np.array([0.6, 0.35, 0.3]))
  luma = float(np.dot(lip_colour, image_io.LUMA))
  dark = lip_colour * 0.2
  tongue = lip_colour * 0.6
  teeth_colour = (0.8 * np.array([0.95, 0.92, 0.84]) + 0.2 * lip_colour) * np.clip(
      luma / 0.45, 0.5, 1.0)
  # Upper teeth: a band under the upper lip, as deep as the opening allows.
  up_t = moved[list(mesh.LIPS_INNER_UPPER)]
  lo_t = moved[list(mesh.LIPS_INNER_LOWER)]
  gap = np.clip((lo_t - up_t) @ frame.ey, 0.0, None)
  depth = np.minimum(0.06 * frame.iod, 0.4 * gap)
  band = np.concatenate([up_t, (up_t + depth[:, None] * frame.ey)[::-1]])
  teeth = _poly_mask(band, x0, y0, y1 - y0, x1 - x0) * cavity
  # Where each pixel lies across the opening (0 at the upper lip, 1 at the lower):
  # the tongue shows, lit, near the lower lip; the throat is dark.
  yy, xx = np.mgrid[y0:y1, x0:x1]
  pix = np.stack([xx, yy], -1).reshape(-1, 2)
  pu, pv = _uv(pix, frame)
  uu, uv_up = _uv(up_t, frame)
  lu, uv_lo = _uv(lo_t, frame)
  top = np.interp(pu, uu[np.argsort(uu)], uv_up[np.argsort(uu)])
  bottom = np.interp(pu, lu[np.argsort(lu)], uv_lo[np.argsort(lu)])
  t = np.clip((pv - top) / np.maximum(bottom - top, 1e-6), 0, 1).reshape(xx.shape)
  lit = (np.clip((t - 0.55) / 0.45, 0, 1) ** 2)[..., None]
  dark = dark * (1 - lit) + tongue * lit
  # Shade towards the corners, where the mouth is deeper and darker.
  centre = up_t[len(up_t) // 2]
  half = max(np.linalg.norm(up_t[-1] - up_t[0]) / 2, 1.0)
  across = np.abs((xx - centre[0]) * frame.ex[0] + (yy - centre[1]) * frame.ex[1]) / half
  shade = (1.0 - 0.55 * np.clip(across, 0, 1) ** 2)[..., None]
  interior = dark * shade * (1 - teeth[..., None]) + teeth_colour * shade * teeth[..., None]
  m = (alpha * cavity)[..., None]
  region = out[y0:y1, x0:x1]
  out[y0:y1, x0:x1] = (region * (1 - m) + interior * m).astype(out.dtype)
  return out


def render(photo01, landmarks, aus, *, source_aus=None, bounds=None):
  """The photo showing `aus`: (H, W, 3) float32 in [0, 1].

  Args:
    photo01: (H, W, 3) float RGB in [0, 1].
    landmarks: (478, 2 or 3) MediaPipe face-mesh landmarks of the photo, pixels.
    aus: (17,) target intensities in [0, 1], tfsingan.ganimation.aus order.
    source_aus: (17,) what the photo shows (None: neutral); NaN counts as 0.
    bounds: a convex polygon ((K, 2) pixels) the fixed ring must stay inside, e.g.
      the footprint of the face's aligned crop (then no pixel outside it changes).
  """
  photo = np.asarray(photo01, np.float32)
  if photo.ndim != 3 or photo.shape[2] != 3:
    raise UserInputError(f"photo of shape {photo.shape}; expected (H, W, 3) RGB")
  lm = check_landmarks(landmarks)
  if np.all(np.abs(_delta(aus, source_aus)) < MIN_DELTA):
    return photo.copy()
  return render_to(photo, lm, move_landmarks(lm, aus, source_aus=source_aus), bounds=bounds)


def render_to(photo01, landmarks, target_landmarks, *, bounds=None):
  """The photo warped so that its landmarks move to `target_landmarks` ((478, 2)
  pixels; e.g. another frame's of the same face, aligned alike), with the mouth
  interior painted where the lips part: `render`'s warp for a given geometry.
  The pairs of `tfsingan.prepare.warp_pairs` are made this way."""
  photo = np.asarray(photo01, np.float32)
  lm = check_landmarks(landmarks)
  moved = check_landmarks(target_landmarks, what="target landmarks")
  fixed = ring(lm, bounds)
  out = _piecewise_affine(photo, np.concatenate([lm, fixed]), np.concatenate([moved, fixed]))
  out = _paint_mouth(out, photo, lm, moved, face_frame(lm))
  # Painting is antialiased and may touch a pixel beyond a moved triangle; outside the
  # ring nothing may change. Everything that changed lies in the ring's bounding box,
  # so the check runs there (on a 970 x 2204 photo the whole-image version took
  # 2/3 of the render).
  h, w = photo.shape[:2]
  x0, y0 = np.maximum(np.floor(fixed.min(0)).astype(int), 0)
  x1, y1 = np.minimum(np.ceil(fixed.max(0)).astype(int) + 1, [w, h])
  inside = face_region(lm - [x0, y0], (max(y1 - y0, 0), max(x1 - x0, 0)),
                       None if bounds is None else np.asarray(bounds) - [x0, y0])
  window, source = out[y0:y1, x0:x1], photo[y0:y1, x0:x1]
  window[~inside] = source[~inside]
  np.clip(window, 0.0, 1.0, out=window)
  return out
