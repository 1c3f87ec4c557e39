"""Export of trained runs: `saved_model` (TF Serving) and `tflite` (Android), built by
`common` from the generators alone."""
