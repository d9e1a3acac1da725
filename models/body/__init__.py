"""Body models behind one small interface: parameters in, vertices and joints out."""
from models.body.base import BodyModel, BodyOutput, BodyModelError, load_body_model

__all__ = ["BodyModel", "BodyOutput", "BodyModelError", "load_body_model"]
