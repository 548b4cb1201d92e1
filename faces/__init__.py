"""The face package, the bottom layer: pixels in, faces out. It knows nothing of the gallery or HTTP
(it imports Django settings at most; ``lint-imports`` enforces it).

- ``images``: photo bytes to an RGB array (EXIF rotation, any mode, decompression bombs refused);
- ``pipeline``: detection and embedding of every face of a photo (``detect_faces``), models built
  once per process;
- ``alignment``: how each detected face is cropped and aligned for the recognizer;
- ``dlib_models``: dlib's detector and ResNet called directly, so Dlib domains need no DeepFace;
- ``distance``: how far apart two faces' embeddings are;
- ``models_zoo``: which recognition models and detectors exist, their sizes, thresholds and weights.

Measurements of one face (quality checks, other alignments) belong here, beside ``alignment``.
"""
