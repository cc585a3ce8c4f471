"""Which files are media: the video suffixes `signkit extract` reads and a parser looks for, and the image suffixes
of a frame folder (one video as a folder of frames, sorted by name). Compared lower-cased."""

from __future__ import annotations

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".flv", ".wmv", ".mpg", ".mpeg", ".ts")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
