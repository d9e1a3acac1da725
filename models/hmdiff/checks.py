"""Checks of a loaded HMDiff checkpoint that ``load_state_dict`` does not make.

A checkpoint whose tensors hold NaN / infinity, or whose state layout is inconsistent (a token
order that is not a permutation of the coarse vertices, a state size the network does not take,
a schedule whose warm-start step lies outside it), loads without complaint and fails, or returns
garbage, on the first frame; these say why in one line instead.
"""
from __future__ import annotations

import math
from typing import Mapping

import torch


def config_problem(config) -> str | None:
    """What is inconsistent in an ``HMDiffConfig`` (None if nothing)."""
    layout = config.layout
    order = list(layout.order)
    if len(order) != layout.num_coarse or sorted(order) != list(range(layout.num_coarse)):
        duplicates = len(order) - len(set(order))
        outside = sum(1 for i in set(order) if not (isinstance(i, int) and 0 <= i < layout.num_coarse))
        return (f"layout.order is not a permutation of the {layout.num_coarse} coarse vertices "
                f"({len(order)} entries, {duplicates} repeated, {outside} out of range)")
    if not (isinstance(layout.data_scale, (int, float)) and math.isfinite(layout.data_scale) and layout.data_scale > 0):
        return f"layout.data_scale must be a positive number, got {layout.data_scale!r}"
    if config.denoiser.num_points != layout.num_points:
        return (f"the network takes {config.denoiser.num_points} points but the layout has "
                f"{layout.num_coarse} coarse vertices + {layout.num_joints} joints = {layout.num_points}")
    if not config.num_train_steps >= 1:
        return f"num_train_steps must be at least 1, got {config.num_train_steps}"
    if not 1 <= config.warm_step <= config.num_train_steps:
        return f"warm_step must be in 1..{config.num_train_steps} (num_train_steps), got {config.warm_step}"
    return None


def tensors_problem(state_dict: Mapping[str, object]) -> str | None:
    """Which tensors hold NaN or infinite values, or are not tensors (None if none)."""
    not_tensors = [k for k, v in state_dict.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        return f"{len(not_tensors)} entries are not tensors: {', '.join(not_tensors[:3])}"
    bad = [k for k, v in state_dict.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        return (f"{len(bad)} of {len(state_dict)} tensors hold NaN or infinite values "
                f"({', '.join(bad[:3])}{more})")
    return None


def one_line(err: BaseException) -> str:
    """An exception's whole message on one line (``load_state_dict`` lists one problem a line)."""
    text = "; ".join(line.strip() for line in str(err).splitlines() if line.strip())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
