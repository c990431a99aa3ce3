"""Privacy by default (SPEC S6): persons are made unrecognisable in every image that leaves a
camera's pipeline."""

from veilleur.privacy.blur import blur_persons, person_regions

__all__ = ["blur_persons", "person_regions"]
