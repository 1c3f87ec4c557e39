"""Tests for tfsingan.ganimation.aus: AU names, parsing, emotion presets, tiling."""

import numpy as np
import pytest
import tensorflow as tf

from tfsingan.errors import UserInputError
from tfsingan.ganimation import aus as aus_lib
from tfsingan.ganimation.aus import (AU_NAMES, EMOTIONS, NUM_AUS, emotion_aus, format_aus,
                                     parse_aus, tile_aus)


def test_au_table_matches_openface_order():
  assert NUM_AUS == len(AU_NAMES) == 17
  assert AU_NAMES[0] == "AU01" and AU_NAMES[8] == "AU12" and AU_NAMES[-1] == "AU45"
  assert list(AU_NAMES) == sorted(AU_NAMES)
  assert aus_lib.AU_SCALE == 5.0


def test_tile_aus_batched_values_and_static_shape():
  aus = np.random.default_rng(0).uniform(size=(2, NUM_AUS)).astype(np.float32)
  out = tile_aus(aus, 4, 5)
  assert out.shape == (2, 4, 5, NUM_AUS)
  for b in range(2):
    np.testing.assert_array_equal(out.numpy()[b], np.broadcast_to(aus[b], (4, 5, NUM_AUS)))

  @tf.function(input_signature=[tf.TensorSpec([3, NUM_AUS], tf.float32)])
  def fn(x):
    return tile_aus(x, 8, 8)

  assert fn.get_concrete_function().structured_outputs.shape.as_list() == [3, 8, 8, NUM_AUS]


def test_tile_aus_single_vector_and_dynamic_size():
  aus = np.arange(NUM_AUS, dtype=np.float32) / NUM_AUS
  out = tile_aus(aus, 3, 2).numpy()
  assert out.shape == (3, 2, NUM_AUS)
  np.testing.assert_array_equal(out[2, 1], aus)
  image = tf.zeros([1, 6, 7, 3])
  out = tile_aus(aus[None], tf.shape(image)[1], tf.shape(image)[2])
  assert out.shape == (1, 6, 7, NUM_AUS)
  with pytest.raises(ValueError):
    tile_aus(np.zeros((1, 1, NUM_AUS)), 2, 2)


def test_parse_aus():
  v = parse_aus("AU12:1.0, au06=0.8,AU1:0.25")
  assert v.dtype == np.float32 and v.shape == (NUM_AUS,)
  assert v[AU_NAMES.index("AU12")] == 1.0
  assert v[AU_NAMES.index("AU06")] == pytest.approx(0.8)
  assert v[AU_NAMES.index("AU01")] == 0.25
  assert np.count_nonzero(v) == 3
  np.testing.assert_array_equal(parse_aus(""), np.zeros(NUM_AUS))


@pytest.mark.parametrize("spec", ["AU03:0.5", "AU12:1.5", "AU12:-0.1", "AU12:nan", "AU12",
                                  "AU12:0.5,AU12:0.2", "AU12:high", "smile:1"])
def test_parse_aus_rejects(spec):
  with pytest.raises(UserInputError):
    parse_aus(spec)


def test_emotion_presets():
  assert set(EMOTIONS) == {"happy", "sad", "fear", "anger", "surprise", "disgust"}
  for name, table in EMOTIONS.items():
    v = emotion_aus(name)
    assert v.shape == (NUM_AUS,) and v.min() >= 0.0 and v.max() <= 1.0
    assert np.count_nonzero(v) == len(table) >= 2, name
  happy = emotion_aus("Happy")
  assert happy[AU_NAMES.index("AU12")] > 0 and happy[AU_NAMES.index("AU06")] > 0
  assert happy[AU_NAMES.index("AU15")] == 0
  assert emotion_aus("sad")[AU_NAMES.index("AU15")] > 0
  np.testing.assert_allclose(emotion_aus("happy", intensity=0.5), happy * 0.5)
  with pytest.raises(UserInputError):
    emotion_aus("bored")


def test_format_aus_round_trips_through_parse():
  v = emotion_aus("fear")
  np.testing.assert_allclose(parse_aus(format_aus(v)), v, atol=0.005)
  assert format_aus(np.zeros(NUM_AUS)) == "neutral"
