"""Per-vertex appearance of the anny body: outfit regions, colours, baked lighting, backgrounds.

Colours are baked into the vertices (Lambert shading from 1-2 directional lights plus ambient,
computed here) and rendered unlit, so lighting varies freely while the renderer stays trivial.
A :class:`Look` (outfit, lights, background, noise) is drawn once per image or per sequence.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import scipy.sparse as sp
import torch

from models.body.base import BodyModel

NOISE_TILE = 128
REGIONS = ("skin", "hair", "top", "sleeve_upper", "sleeve_lower", "bottom", "leg_lower", "shoes")
SKIN_TONES = np.array([  # sRGB, light to dark (Fitzpatrick-like spread)
    [0.96, 0.80, 0.69], [0.92, 0.74, 0.60], [0.85, 0.64, 0.50], [0.76, 0.55, 0.40],
    [0.62, 0.43, 0.30], [0.45, 0.30, 0.20], [0.32, 0.21, 0.14],
])
HAIR = np.array([[0.08, 0.06, 0.05], [0.25, 0.16, 0.09], [0.50, 0.35, 0.20], [0.80, 0.68, 0.45],
                 [0.55, 0.25, 0.12], [0.60, 0.60, 0.60]])


@dataclass
class BodyRegions:
    """Region label per vertex (index into REGIONS) and the mesh's vertex-face incidence."""

    label: np.ndarray  # (V,) int
    rest: np.ndarray  # (V, 3) rest vertices, canonical frame
    faces: np.ndarray  # (F, 3) int64
    incidence: sp.csr_matrix  # (V, F) for vertex normals

    @classmethod
    def from_model(cls, model: BodyModel) -> "BodyRegions":
        """Regions from anny's dominant skinning bone per vertex and the rest-pose geometry."""
        anny = model.anny
        dominant = anny.vertex_bone_indices.gather(1, anny.vertex_bone_weights.argmax(1, keepdim=True))[:, 0]
        names = [model.joint_names[i] for i in dominant.tolist()]
        with torch.no_grad():
            rest = model().vertices[0].numpy()  # canonical: y down, z back
        eye_y = rest[[n.startswith("eye") for n in names], 1].mean()
        region = {name: i for i, name in enumerate(REGIONS)}
        by_bone = {"upperarm": "sleeve_upper", "lowerarm": "sleeve_lower", "upperleg": "bottom",
                   "lowerleg": "leg_lower", "foot": "shoes", "toe": "shoes"}
        label = np.zeros(len(names), dtype=np.int64)  # skin by default (head, neck, hands)
        for i, (n, (_, y, z)) in enumerate(zip(names, rest)):
            bone = n.split(".")[0].rstrip("0123456789-")
            if n.startswith(("spine", "clavicle", "shoulder01", "pelvis")):
                label[i] = region["bottom" if y > -0.05 else "top"]  # the waist splits the torso
            elif bone in by_bone:
                label[i] = region[by_bone[bone]]
            elif n == "head" and (y < eye_y - 0.035 or (z > 0.0 and y < eye_y + 0.08)):
                label[i] = region["hair"]  # the skull above the brow and at the back
        faces = model.faces.cpu().numpy()
        rows = faces.reshape(-1)
        cols = np.repeat(np.arange(len(faces)), 3)
        incidence = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(names), len(faces)))
        return cls(label=label, rest=rest, faces=faces, incidence=incidence)

    def normals(self, vertices: np.ndarray) -> np.ndarray:
        """Area-weighted unit vertex normals (V, 3)."""
        tri = vertices[self.faces]
        face_n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        n = self.incidence @ face_n
        return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


def _random_cloth(rng: np.random.Generator) -> np.ndarray:
    """A clothing colour: muted or saturated, never the renderer's key green."""
    hsv = np.array([rng.uniform(0, 180), rng.uniform(0.05, 0.75) * 255, rng.uniform(0.12, 0.9) * 255])
    return cv2.cvtColor(hsv.astype(np.uint8)[None, None], cv2.COLOR_HSV2RGB)[0, 0] / 255.0


def sample_albedo(regions: BodyRegions, rng: np.random.Generator) -> np.ndarray:
    """Per-vertex base colours (V, 3) in [0, 1]: skin tone, hair, an outfit with random sleeve and
    leg lengths, and low-frequency per-vertex variation."""
    skin = SKIN_TONES[rng.integers(len(SKIN_TONES))] * rng.uniform(0.92, 1.05)
    top, bottom, shoes = _random_cloth(rng), _random_cloth(rng), _random_cloth(rng) * 0.6
    sleeve = rng.choice(3, p=[0.25, 0.4, 0.35])  # none, short, long
    long_legs = rng.random() < 0.7
    palette = np.stack([
        skin, HAIR[rng.integers(len(HAIR))], top,
        top if sleeve > 0 else skin, top if sleeve == 2 else skin,
        bottom, bottom if long_legs else skin, shoes,
    ])
    waves = rng.normal(0, 12, (3, 3))  # low-frequency variation over the body (folds, shading)
    phase = rng.uniform(0, 2 * np.pi, 3)
    variation = 1 + 0.04 * np.sin(regions.rest @ waves + phase).sum(1, keepdims=True)
    albedo = palette[regions.label] * variation
    return np.clip(albedo, 0.02, 0.98)


@dataclass
class Look:
    """Everything that makes a rendered person look the way they do, fixed over a sequence."""

    albedo: np.ndarray  # (V, 3) base colours
    ambient: float
    lights: np.ndarray  # (L, 3) unit directions towards the lights, camera frame
    light_colors: np.ndarray  # (L, 3) intensities per channel
    background: np.ndarray  # (H, W, 3) uint8
    noise: np.ndarray  # (NOISE_TILE, NOISE_TILE, 3) int16 sensor-noise tile, 8-bit levels


def sample_look(regions: BodyRegions, width: int, height: int, rng: np.random.Generator) -> Look:
    """Outfit, 1-2 directional lights from above and the camera's side, background, noise level."""
    count = int(rng.integers(1, 3))
    lights = rng.normal(size=(count, 3)) * [1.0, 0.8, 0.5] + [0.0, -0.6, -1.0]
    lights /= np.linalg.norm(lights, axis=1, keepdims=True)
    colors = rng.uniform(0.4, 0.9, (count, 1)) * rng.uniform(0.85, 1.0, (count, 3))  # warm / cool tints
    noise = rng.normal(0, rng.uniform(0, 3), (NOISE_TILE, NOISE_TILE, 3))
    return Look(albedo=sample_albedo(regions, rng), ambient=float(rng.uniform(0.25, 0.5)), lights=lights,
                light_colors=colors, background=sample_background(width, height, rng),
                noise=np.round(noise).astype(np.int16))


def add_noise(image: np.ndarray, look: Look, rng: np.random.Generator) -> np.ndarray:
    """Sensor noise: the look's noise tile, randomly shifted per frame, tiled over the image."""
    h, w = image.shape[:2]
    shift = rng.integers(0, NOISE_TILE, 2)
    tile = np.roll(look.noise, tuple(shift), axis=(0, 1))
    reps = (-(-h // NOISE_TILE), -(-w // NOISE_TILE), 1)
    noise = np.tile(tile, reps)[:h, :w]
    return (image + noise).clip(0, 255).astype(np.uint8)


def shade(vertices: np.ndarray, look: Look, regions: BodyRegions) -> np.ndarray:
    """Lambert-shaded vertex colours (V, 3) in [0, 1] for camera-frame vertices."""
    lambert = np.clip(regions.normals(vertices) @ look.lights.T, 0, None)  # (V, L)
    return np.clip(look.albedo * (look.ambient + lambert @ look.light_colors), 0.0, 1.0)


def sample_background(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A simple textured background (H, W, 3) uint8: wall/floor split, gradient, boxes, texture,
    drawn at a random fraction of the resolution and scaled up (soft, out-of-focus edges)."""
    scale = rng.uniform(0.15, 0.5)
    h, w = max(int(height * scale), 8), max(int(width * scale), 8)
    img = np.empty((h, w, 3), np.float32)
    horizon = int(h * rng.uniform(0.45, 0.95))
    img[:horizon], img[horizon:] = _random_cloth(rng), _random_cloth(rng)  # wall, floor
    img *= np.linspace(rng.uniform(0.7, 1.1), rng.uniform(0.7, 1.1), h, dtype=np.float32)[:, None, None]
    for _ in range(rng.integers(0, 6)):  # furniture / posters / windows
        bw, bh = (rng.uniform(0.05, 0.4, 2) * [w, h]).astype(int)
        x, y = rng.integers(0, w), rng.integers(0, h)
        img[y:y + bh, x:x + bw] = _random_cloth(rng)
    img += rng.normal(0, rng.uniform(0.0, 0.02), img.shape).astype(np.float32)
    img = cv2.resize(img, (width, height), interpolation=cv2.INTER_LINEAR)
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)
