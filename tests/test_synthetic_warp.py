"""The AU warp of real photos (tfsingan.synthetic.warp): landmarks move as FACS says, nothing outside the face changes."""

import os

import numpy as np
import pytest

import harness
from tfsingan.ganimation import aus as aus_lib
from tfsingan.synthetic import mesh
from tfsingan.synthetic import warp

HERE = os.path.dirname(__file__)
# Landmarks of grace_hopper.jpg (512 x 512) read once by MediaPipe's face landmarker;
# the geometry tests need neither the photo nor the model.
LANDMARKS = np.loadtxt(os.path.join(HERE, "data", "grace_hopper_landmarks.csv"), delimiter=",")
SHAPE = (512, 512, 3)


def _aus(**values):
  return aus_lib.aus_from_dict(values)


def _up(moved, index, lm=LANDMARKS):
  """How far landmark `index` went towards the forehead, in IOD units."""
  frame = warp.face_frame(lm[:, :2])
  return -float(np.dot(moved[index] - lm[index, :2], frame.ey)) / frame.iod


def _texture(seed=0):
  # Smooth random texture: bilinear sampling of it differs from the source wherever a
  # pixel moved, so "unchanged" below cannot pass by accident.
  import cv2  # pylint: disable=import-outside-toplevel
  noise = np.random.default_rng(seed).random((64, 64, 3)).astype(np.float32)
  return cv2.resize(noise, SHAPE[:2][::-1], interpolation=cv2.INTER_CUBIC).clip(0, 1)


def test_au12_raises_and_widens_the_lip_corners():
  moved = warp.move_landmarks(LANDMARKS, _aus(AU12=1.0))
  frame = warp.face_frame(LANDMARKS[:, :2])
  for corner in (61, 291):
    assert _up(moved, corner) > 0.1
  width = lambda p: np.linalg.norm(p[291, :2] - p[61, :2]) / frame.iod
  assert width(moved) - width(LANDMARKS) > 0.15
  for far in (10, 152, 159, 386):  # forehead, chin, upper lids stay
    assert abs(_up(moved, far)) < 0.01


def test_au26_lowers_the_jaw_not_the_upper_lip():
  moved = warp.move_landmarks(LANDMARKS, _aus(AU26=1.0))
  for chin in (152, 17, 14):  # chin, lower lip outer and inner middles
    assert _up(moved, chin) < -0.15
  for upper in (0, 13, 1):  # upper lip, its inner edge, nose tip
    assert abs(_up(moved, upper)) < 0.01


def test_au01_raises_the_inner_brows_more_than_the_outer():
  moved = warp.move_landmarks(LANDMARKS, _aus(AU01=1.0))
  for inner, outer in ((107, 70), (336, 300)):
    assert _up(moved, inner) > 0.08
    assert _up(moved, outer) < 0.5 * _up(moved, inner)
  for lid in (159, 386, 145, 374):  # the lid margins stay: the eye does not open
    assert abs(_up(moved, lid)) < 1e-9


def test_au45_closes_the_eyes_and_au05_opens_them():
  frame = warp.face_frame(LANDMARKS[:, :2])
  gap = lambda p: [np.dot(p[lo, :2] - p[up, :2], frame.ey) for up, lo in ((159, 145), (386, 374))]
  closed = gap(warp.move_landmarks(LANDMARKS, _aus(AU45=1.0)))
  opened = gap(warp.move_landmarks(LANDMARKS, _aus(AU05=1.0)))
  for c, o, g in zip(closed, opened, gap(LANDMARKS)):
    assert 0 <= c < 0.15 * g
    assert o > g + 0.03 * frame.iod


def test_mirrored_face_moves_the_same_way():
  flipped = LANDMARKS.copy()
  flipped[:, 0] = SHAPE[1] - 1 - flipped[:, 0]
  target = aus_lib.emotion_aus("surprise")
  moved = warp.move_landmarks(LANDMARKS, target)
  moved_flipped = warp.move_landmarks(flipped, target)
  moved_flipped[:, 0] = SHAPE[1] - 1 - moved_flipped[:, 0]
  np.testing.assert_allclose(moved_flipped, moved, atol=1e-6)  # float rounding only


def test_pixels_outside_the_face_are_unchanged_bit_for_bit():
  photo = _texture()
  region = warp.face_region(LANDMARKS, SHAPE)
  for name in sorted(aus_lib.EMOTIONS):
    out = warp.render(photo, LANDMARKS, aus_lib.emotion_aus(name))
    assert out.dtype == np.float32 and out.shape == SHAPE
    assert np.array_equal(out[~region], photo[~region]), name
    assert np.abs(out - photo)[region].max() > 0.05, name  # and the face did change
  assert 0.05 < region.mean() < 0.6  # the ring holds the face, not the whole photo


def test_zero_change_is_the_identity():
  photo = _texture(1)
  assert np.array_equal(warp.render(photo, LANDMARKS, np.zeros(17)), photo)
  source = _aus(AU12=0.7, AU06=0.5)  # the photo already shows the target
  assert np.array_equal(warp.render(photo, LANDMARKS, source, source_aus=source), photo)
  # A tiny change moves no pixel by more than a tiny amount.
  tiny = warp.render(photo, LANDMARKS, _aus(AU12=1e-3))
  assert np.abs(tiny - photo).max() < 0.01


def test_open_mouth_is_painted_dark():
  import cv2  # pylint: disable=import-outside-toplevel
  photo = np.full(SHAPE, 0.7, np.float32)
  moved = warp.move_landmarks(LANDMARKS, _aus(AU26=1.0))
  out = warp.render(photo, LANDMARKS, _aus(AU26=1.0))
  inner = list(mesh.LIPS_INNER_UPPER) + list(mesh.LIPS_INNER_LOWER[::-1][1:-1])
  mask = np.zeros(SHAPE[:2], np.uint8)
  cv2.fillPoly(mask, [np.round(moved[inner]).astype(np.int32)], 1)
  assert mask.sum() > 100  # the mouth opened by more than a sliver
  assert out[mask.astype(bool)].mean() < 0.5


def test_bad_inputs_are_user_errors():
  from tfsingan.errors import UserInputError  # pylint: disable=import-outside-toplevel
  with pytest.raises(UserInputError, match="478"):
    warp.render(_texture(), LANDMARKS[:68], np.zeros(17))
  with pytest.raises(UserInputError, match="17"):
    warp.render(_texture(), LANDMARKS, np.zeros(5))
  bad = LANDMARKS.copy()
  bad[3, 0] = np.nan
  with pytest.raises(UserInputError, match="finite"):
    warp.render(_texture(), bad, np.zeros(17))


def test_the_landmarker_sees_the_warped_smile_and_open_jaw(real_face, au_reader):
  from tfsingan import faces  # pylint: disable=import-outside-toplevel
  from tfsingan.common import image_io  # pylint: disable=import-outside-toplevel
  reader = au_reader
  photo = image_io.load_image(real_face("grace_hopper.jpg"), channels=3)
  det = faces.detect(photo)[0]
  lm = reader.read(photo, det).landmarks
  for target, index, sign in ((_aus(AU12=1.0), 61, 1), (_aus(AU12=1.0), 291, 1),
                              (_aus(AU26=1.0), 17, -1)):
    edited = warp.render(photo, lm, target)
    read_back = reader.read(edited, faces.detect(edited)[0]).landmarks
    # Measured against the warp's own intention: the landmarker must see at least
    # half of the move (it smooths the mesh towards its prior).
    intended = _up(warp.move_landmarks(lm, target), index, lm)
    assert sign * _up(read_back[:, :2], index, lm) > 0.5 * sign * intended


def test_warp_dataset_layout_split_and_truth(tmp_path, monkeypatch, fake_face_reading):
  import json  # pylint: disable=import-outside-toplevel
  import pickle  # pylint: disable=import-outside-toplevel
  from tfsingan.common import image_io  # pylint: disable=import-outside-toplevel
  from tfsingan.ganimation import data as data_lib  # pylint: disable=import-outside-toplevel
  from tfsingan.synthetic import dataset  # pylint: disable=import-outside-toplevel
  from tfsingan.synthetic import photos  # pylint: disable=import-outside-toplevel
  monkeypatch.setattr(photos, "read_face", fake_face_reading)
  photo_dir = tmp_path / "photos"
  photo_dir.mkdir()
  for i in range(3):
    image_io.save_image(str(photo_dir / f"p{i}.png"), _texture(i))
  out = tmp_path / "data"
  stats = photos.generate(str(out), str(photo_dir), 24, size=32, seed=1, test_fraction=0.34,
                          images_per_identity=4, image_format="png", reader=object(),
                          quiet=True)
  assert stats["images"] == 24 and stats["identities"] == 6
  meta = json.loads((out / "identities.json").read_text())
  assert meta["renderer"] == "warp"
  train = (out / "train_ids.csv").read_text().split()
  test = (out / "test_ids.csv").read_text().split()
  assert len(train) + len(test) == 24 and test
  photo_of = lambda name: meta["identities"][meta["images"][name[:-4]]["identity"]]["photo"]
  assert not {photo_of(n) for n in train} & {photo_of(n) for n in test}  # whole photos
  table = pickle.loads((out / "aus_openface.pkl").read_bytes())
  assert len(table) == 24 and all(v.shape == (17,) and v.max() <= 5 for v in table.values())
  flips = [v["augmentation"]["flip"] for v in meta["identities"].values()]
  assert any(flips) and not all(flips)
  # The trainer's reader takes it as it is, and true_target renders every stored image.
  paths, aus = data_lib.load_index(str(out), split="train")
  assert len(paths) == len(train) and aus.shape == (len(train), 17)
  for name in test[:3]:
    stored = image_io.load_image(str(out / "imgs" / name), channels=3)
    truth = dataset.true_target(str(out), name, meta["images"][name[:-4]]["aus"])
    assert np.abs(stored - truth).max() <= 1 / 255 + 1e-6  # PNG: uint8 rounding only


@pytest.mark.parametrize("args, named", [
    (["--renderer=warp"], "--photos"),
    (["--renderer=warp", "--photos=/nonexistent/photos"], "--photos"),
    (["--photos=/tmp"], "--renderer=warp"),
])
def test_cli_bad_warp_flags_end_with_one_line(tmp_path, args, named):
  proc = harness.run_cli("tfsingan.synthetic", f"--out={tmp_path}", *args, timeout=120)
  assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0, proc.stderr
  assert named in proc.stderr


def test_warp_editor_edits_the_face_and_reports_what_it_kept(monkeypatch, fake_face_reading):
  from tfsingan.synthetic import photos  # pylint: disable=import-outside-toplevel
  monkeypatch.setattr(photos, "read_face", fake_face_reading)
  photo = _texture(2)
  editor = photos.WarpEditor(photo, reader=object())
  aligned = editor.aligned(64, 0.2)
  assert aligned.image.shape == (64, 64, 3) and aligned.inside > 0.9
  result = editor.edit_photo(aus_lib.emotion_aus("happy"), aligned)
  region = warp.face_region(LANDMARKS, SHAPE)
  assert np.array_equal(result["photo"][~region], photo[~region])
  # Nor outside the footprint of the face's aligned crop (what paste_back may touch).
  import cv2  # pylint: disable=import-outside-toplevel
  footprint = np.zeros(SHAPE[:2], np.uint8)
  cv2.fillPoly(footprint, [np.round(editor.bounds).astype(np.int32)], 1)
  assert np.array_equal(result["photo"][footprint == 0], photo[footprint == 0])
  assert result["face"].shape == (64, 64, 3) and result["attention"].shape == (64, 64)
  assert 0.0 < result["attention"].mean() < 1.0  # kept: 1 outside the moved triangles
  # A source that already shows the target: nothing to do.
  smiling = photos.WarpEditor(photo, reader=object(), source_aus=aus_lib.emotion_aus("happy"))
  assert np.array_equal(smiling(aus_lib.emotion_aus("happy")), photo)
