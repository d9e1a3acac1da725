"""Body models behind one small interface: parameters in, vertices and joints out."""
from models.body.base import BodyModel, BodyOutput, BodyModelError
from models.body.factory import load_body_model, shared_body_model

__all__ = ["BodyModel", "BodyOutput", "BodyModelError", "load_body_model", "shared_body_model"]
