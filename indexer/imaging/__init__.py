"""Finding image files (`scan`) and decoding them robustly into RGB (`decode_file`); safe in worker processes."""
from indexer.imaging.decode import (
    ACCEPTED_FORMATS,
    DEFAULT_MAX_PIXELS,
    DecodedImage,
    ImageRejected,
    decode_bytes,
    decode_file,
    sha256_file,
)
from indexer.imaging.scan import IMAGE_EXTENSIONS, FoundFile, ScanProblem, ScanStats, printable_path, scan

__all__ = [
    "ACCEPTED_FORMATS",
    "DEFAULT_MAX_PIXELS",
    "IMAGE_EXTENSIONS",
    "DecodedImage",
    "FoundFile",
    "ImageRejected",
    "ScanProblem",
    "ScanStats",
    "decode_bytes",
    "decode_file",
    "printable_path",
    "scan",
    "sha256_file",
]
