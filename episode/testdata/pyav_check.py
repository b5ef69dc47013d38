"""pyav_check.py JOB.json: decode a LeRobotDataset's videos with PyAV the way LeRobot does.

For every (episode, camera) in the job: the file is h264/yuv420p at the dataset fps and
size; decoding the whole file gives, for the episode, exactly one frame per data row with
pts == from_timestamp + timestamp (within LeRobot's tolerance_s); and LeRobot's own query
(decode_video_frames_pyav: seek backward to a keyframe, decode forward) finds the first,
middle and last frame within the tolerance. Prints a summary; exits 1 on any failure.
"""
import json
import sys

import av

job = json.load(open(sys.argv[1]))
fps, tol = job["fps"], job["tolerance_s"]
errors, files, frames_checked = [], {}, 0


def decode_all(path):
    if path not in files:
        with av.open(path) as c:
            s = c.streams.video[0]
            meta = (s.codec_context.name, s.pix_fmt, s.width, s.height, int(s.base_rate))
            pts = [float(f.pts * s.time_base) for f in c.decode(s)]
        files[path] = (meta, pts)
    return files[path]


def lerobot_query(path, timestamps):
    # As lerobot/datasets/video_utils.py decode_video_frames_pyav.
    first, last = min(timestamps), max(timestamps)
    loaded = []
    with av.open(path) as c:
        s = c.streams.video[0]
        c.seek(round(first / s.time_base) - 1, backward=True, any_frame=False, stream=s)
        for f in c.decode(s):
            if f.pts is None:
                continue
            ts = float(f.pts * s.time_base)
            f.to_ndarray(format="rgb24")
            loaded.append(ts)
            if ts >= last:
                break
    return [min(abs(q - l) for l in loaded) for q in timestamps]


for e in job["episodes"]:
    (codec, pix_fmt, w, h, rate), pts = decode_all(e["path"])
    where = f'episode {e["episode"]} {e["key"]} ({e["path"]})'
    if (codec, pix_fmt, w, h, rate) != ("h264", "yuv420p", e["width"], e["height"], fps):
        errors.append(f"{where}: stream {codec} {pix_fmt} {w}x{h} @{rate}")
    mine = [p for p in pts if e["from"] - tol <= p < e["to"] - tol]
    want = [e["from"] + t for t in e["timestamps"]]
    if len(mine) != len(want):
        errors.append(f"{where}: {len(mine)} frames in [{e['from']}, {e['to']}), data has {len(want)}")
    else:
        worst = max(abs(a - b) for a, b in zip(mine, want))
        if worst > tol:
            errors.append(f"{where}: pts off the data timestamps by up to {worst:.6f} s")
    frames_checked += len(mine)
    q = [want[0], want[len(want) // 2], want[-1]]
    d = lerobot_query(e["path"], q)
    if max(d) > tol:
        errors.append(f"{where}: LeRobot's query of {q} lands {d} s away")

if errors:
    print("\n".join(errors))
    sys.exit(1)
print(f"PyAV {av.__version__}: {len(files)} files, {len(job['episodes'])} episode videos, "
      f"{frames_checked} frames, pts match the data timestamps within {tol} s")
