"""Pieces shared by every model family: layers, losses, resizing, checkpoints, image I/O."""
