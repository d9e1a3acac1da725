"""The synthetic world: poses, motions, shapes, cameras, detector-like corruption, rendering, datasets.

Sub-modules are imported explicitly (``from models.synth.poses import sample_poses``) so that a
user of one piece (e.g. the corruption during training) does not pay for Open3D or anny imports.
"""
