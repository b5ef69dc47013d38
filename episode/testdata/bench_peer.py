"""bench_peer.py DIR SECONDS: the peer of BenchmarkRecord.

Records one episode of 2 cameras 224x224 at 30 fps in real time the way LeRobot's
StreamingVideoEncoder does (a thread per camera fed through a queue, PyAV libx264 with
robotd's settings: ultrafast, tune zerolatency, crf 23, g 2, no B-frames, yuv420p, 1 thread;
PyAV converts the RGB frames to yuv420p with swscale), plus the state
and action kept as numpy arrays and saved at the end (np.save; Debian has no pyarrow).
Prints "cpu-%core X close-ms Y dropped Z frames N" (CPU of this process over the
recording, % of one core).
"""
import os
import queue
import resource
import sys
import threading
import time

import av
import numpy as np

out, secs = sys.argv[1], int(sys.argv[2])
fps, w, h, n = 30, 224, 224, int(sys.argv[2]) * 30


def base_image(seed):
    # Same recipe as benchImages in bench_test.go (the noise differs, not its amount).
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0 : 2 * w]
    img = np.stack([x // 2, y, 128 + (x + y) // 8], axis=-1)
    blocks = ((x // 40 + y // 40) % 3 == 0)[..., None]
    img = np.where(blocks, np.array([200, 60, 40]), img) + rng.integers(-4, 5, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


bases = [base_image(1), base_image(2)]
dropped = [0]


def encoder(path, q):
    with av.open(path, "w") as c:
        s = c.add_stream("libx264", rate=fps, options={"preset": "ultrafast", "tune": "zerolatency", "crf": "23", "g": "2", "bf": "0", "threads": "1"})
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        while True:
            img = q.get()
            if img is None:
                break
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


qs = [queue.Queue(maxsize=fps) for _ in bases]
threads = [threading.Thread(target=encoder, args=(os.path.join(out, f"cam{i}.mp4"), q)) for i, q in enumerate(qs)]
for t in threads:
    t.start()
state = np.zeros((n, 8), np.float32)
action = np.zeros((n, 8), np.float32)
r0 = resource.getrusage(resource.RUSAGE_SELF)
t0 = time.monotonic()
for k in range(n):
    time.sleep(max(0, t0 + k / fps - time.monotonic()))
    state[k] = np.arange(8) * 0.001 + k * 0.001
    action[k] = -np.arange(8) * 0.001 + k * 0.001
    for i, (b, q) in enumerate(zip(bases, qs)):
        off = (k * (i + 1)) % w
        try:
            q.put_nowait(np.ascontiguousarray(b[:, off : off + w]))
        except queue.Full:
            dropped[0] += 1
wall = time.monotonic() - t0
c0 = time.monotonic()
for q in qs:
    q.put(None)
for t in threads:
    t.join()
np.save(os.path.join(out, "state.npy"), state)
np.save(os.path.join(out, "action.npy"), action)
close = time.monotonic() - c0
r1 = resource.getrusage(resource.RUSAGE_SELF)
cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
print(f"cpu-%core {100 * cpu / wall:.2f} close-ms {1000 * close:.0f} dropped {dropped[0]} frames {n}")
