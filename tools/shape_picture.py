"""A side-by-side picture of runs' meshes on one video frame (``docs/shape_taiji.png``):

    python run_live.py --video ../shared/data/videos/taiji.mp4 --no-display --every-frame --max-frames 240 \
        --export out/taiji_default.npz
    python run_live.py ... --export out/taiji_male.npz --gender male
    python run_live.py ... --export out/taiji_estimate.npz --body-shape estimate
    python tools/shape_picture.py ../shared/data/videos/taiji.mp4 out/taiji_default.npz out/taiji_male.npz \
        out/taiji_estimate.npz --labels "default body" "--gender male" "--body-shape estimate" --frame 200 \
        --out docs/shape_taiji.png

Each row: the video frame around the person, the mesh seen from the camera and from its side.
Drawn on the CPU without a GPU or display (painter's algorithm, Lambert shading): faint seams
between triangles, no shadows.
"""
import argparse

import cv2
import numpy as np


def render(vertices, faces, yaw_deg, size=(360, 540), fov_deg=30.0, distance=3.6):
    w, h = size
    v = (vertices - vertices.mean(0)) * np.array([1, -1, -1])  # camera frame -> y up, z toward the viewer
    a = np.deg2rad(yaw_deg)
    rot = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    v = v @ rot.T
    depth = distance - v[:, 2]
    f = h / 2 / np.tan(np.deg2rad(fov_deg) / 2)
    uv = np.stack([w / 2 + f * v[:, 0] / depth, h / 2 - f * v[:, 1] / depth], 1)
    tri = v[faces]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normal /= np.linalg.norm(normal, axis=1, keepdims=True) + 1e-12
    light = np.array([0.3, 0.5, 1.0]); light /= np.linalg.norm(light)
    shade = 0.25 + 0.75 * np.abs(normal @ light)
    order = np.argsort(-depth[faces].mean(1))  # far first
    img = np.full((h, w, 3), 255, np.uint8)
    pts = np.round(uv[faces] * 16).astype(np.int32)
    base = np.array([170, 180, 195])  # BGR
    for i in order:
        cv2.fillConvexPoly(img, pts[i], tuple(int(c) for c in base * shade[i]), lineType=cv2.LINE_AA, shift=4)
    return img


def crop_frame(video, frame, v, focal, principal, height=540):
    cap = cv2.VideoCapture(video)
    cap.set(cv2.CAP_PROP_POS_FRAMES, frame)
    ok, img = cap.read()
    img = cv2.resize(img, (640, int(img.shape[0] * 640 / img.shape[1])))
    uv = v[:, :2] / v[:, 2:] * focal + principal
    x0, y0 = np.maximum(uv.min(0) - 30, 0).astype(int)
    x1, y1 = np.minimum(uv.max(0) + 30, [img.shape[1], img.shape[0]]).astype(int)
    crop = img[y0:y1, x0:x1]
    return cv2.resize(crop, (int(crop.shape[1] * height / crop.shape[0]), height))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("video")
    p.add_argument("runs", nargs="+", help="run_live.py --export files (.npz), one row each")
    p.add_argument("--labels", nargs="+", help="one per run (default: the file names)")
    p.add_argument("--frame", type=int, default=60, help="the run's frame (every frame processed: --every-frame)")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    labels = args.labels or [str(r) for r in args.runs]
    rows = []
    for run, label in zip(args.runs, labels):
        d = np.load(run)
        k = int(np.flatnonzero(d["frame_index"] == args.frame)[0])
        v, f = d["vertices"][k].astype(np.float32), d["faces"]
        views = [crop_frame(args.video, args.frame, v, d["focal"][k], d["principal"][k]), render(v, f, 0), render(v, f, 90)]
        row = np.concatenate(views, 1)
        cv2.rectangle(row, (0, 0), (row.shape[1], 40), (255, 255, 255), -1)
        cv2.putText(row, label, (10, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 160), 2)
        rows.append(row)
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    cv2.imwrite(args.out, np.concatenate(rows, 0))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
