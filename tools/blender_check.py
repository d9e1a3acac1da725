"""Import a BVH and a glb with Blender's own importers and print joint positions as JSON.

Runs under Blender's Python module (``bpy``, Python 3.11 wheels on PyPI), kept out of the
product's environment::

    python3.11 -m venv /tmp/bpyenv && /tmp/bpyenv/bin/pip install bpy==4.2.23
    /tmp/bpyenv/bin/python tools/blender_check.py run.bvh run.glb --fps 24 --frames 0 10 20 --out heads.json

Output: ``{"bvh": {frame: {bone: [x, y, z]}}, "glb": {...}, "glb_mesh": {frame: [[x, y, z], ...]}}``
(bone heads, and every ~50th vertex of the skinned mesh) in the files' own scene axes (Y up,
metres), BVH frames by index (0 = the first), glb frames by key (one key per processed frame).
``tests/test_skeleton_export.py`` compares them with the fitted joints.
"""
import argparse
import json
import sys

import bpy
from mathutils import Vector


def show(frame: float) -> None:
    """Go to a (fractional) scene frame."""
    whole = int(frame // 1)
    bpy.context.scene.frame_set(whole, subframe=frame - whole)


def heads(armature, frames, frame_of):
    out = {}
    for frame in frames:
        show(frame_of(frame))
        bpy.context.view_layer.update()
        out[str(frame)] = {}
        for bone in armature.pose.bones:
            p = armature.matrix_world @ bone.head
            out[str(frame)][bone.name] = [p.x, p.z, -p.y]  # Blender Z up -> the files' Y up
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("bvh")
    parser.add_argument("glb")
    parser.add_argument("--fps", type=float, required=True)
    parser.add_argument("--frames", type=int, nargs="+", required=True)
    parser.add_argument("--out", required=True, help="the JSON file to write (Blender prints on stdout)")
    args = parser.parse_args(sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else None)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = round(args.fps), round(args.fps) / args.fps
    result = {"blender": bpy.app.version_string}
    bpy.ops.import_anim.bvh(filepath=args.bvh, global_scale=0.01, frame_start=1, use_fps_scale=False,
                            update_scene_fps=False, rotate_mode="NATIVE")
    bvh = next(o for o in bpy.context.selected_objects if o.type == "ARMATURE")
    result["bvh"] = heads(bvh, args.frames, lambda f: f + 1)
    bpy.ops.object.select_all(action="DESELECT")
    bpy.ops.import_scene.gltf(filepath=args.glb)
    glb = next(o for o in bpy.data.objects if o.type == "ARMATURE" and o is not bvh)
    # The glb's k-th key (one per processed frame) is where the importer put it: read it back from
    # the root's rotation curve (Blender 4.2 places time t at t * render.fps * fps_base).
    curve = next(c for c in glb.animation_data.action.fcurves if c.data_path.endswith("rotation_quaternion"))
    keys = [point.co.x for point in curve.keyframe_points]
    result["glb"] = heads(glb, args.frames, lambda f: keys[f])
    mesh = next(o for o in bpy.data.objects if o.type == "MESH" and o.find_armature() is glb)
    result["glb_mesh"] = {}
    for frame in args.frames:
        show(keys[frame])
        evaluated = mesh.evaluated_get(bpy.context.evaluated_depsgraph_get())
        verts = evaluated.to_mesh().vertices
        picks = range(0, len(verts), max(1, len(verts) // 50))
        result["glb_mesh"][str(frame)] = [list((mesh.matrix_world @ Vector(verts[i].co)).xzy * Vector((1, 1, -1)))
                                          for i in picks]
        evaluated.to_mesh_clear()
    with open(args.out, "w") as f:
        json.dump(result, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
