"""The checksum helper process (see `_check_process`): hashes batch buffers it shares with the loader.

Run as a script, not imported: it starts in ~50 ms with 12 MB of its own because it imports neither torch nor
signkit (its own folder is dropped from ``sys.path`` first, so sibling modules cannot shadow the standard
library's). Messages, one per datagram on a ``SOCK_SEQPACKET`` socket:

  job      <QQIIII> job id, buffer id, the batch's B, T, K, n; then n x QQQQ (sample index, frames, pose XXH3-64,
           conf XXH3-64); a buffer seen for the first time comes with its memfd as ancillary data. The buffer holds
           float16 pose [B,T,K,3] then conf [B,T,K] (`_check_process.spans`)
  verdict  <Qq> job id, 2 x the row of the first array whose checksum differs, +1 for a conf (-1: all match;
           -2: no such buffer here, e.g. one shared before a fork with the parent's helper)

It exits when the loader's end of the socket closes.
"""

import sys

sys.path.pop(0)  # this script's folder: signkit/datasets, whose module names are not for the standard library

import mmap  # noqa: E402
import socket  # noqa: E402
import struct  # noqa: E402
from collections import OrderedDict  # noqa: E402

import xxhash  # noqa: E402

JOB = struct.Struct("<QQIIII")
ROW = struct.Struct("QQQQ")  # native order: both ends are this machine
VERDICT = struct.Struct("<Qq")
UNKNOWN_BUFFER = -2
MAX_JOB_BYTES = 1 << 20
KEEP_MAPPED = 16  # buffers kept mapped; the loader reuses a few, and a buffer dropped there is dropped here later


def serve(sock: socket.socket) -> None:
    mapped: OrderedDict[int, memoryview] = OrderedDict()
    digest = xxhash.xxh3_64_intdigest
    while True:
        data, fds, _flags, _addr = socket.recv_fds(sock, MAX_JOB_BYTES, 1)
        if not data:
            return
        job, buffer, b, t, k, n = JOB.unpack_from(data)
        for fd in fds:
            with open(fd, "rb", closefd=True) as f:
                mapped[buffer] = memoryview(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ))
            while len(mapped) > KEEP_MAPPED:
                mapped.popitem(last=False)
        view = mapped.get(buffer)
        if view is None:
            sock.send(VERDICT.pack(job, UNKNOWN_BUFFER))
            continue
        mapped.move_to_end(buffer)
        bad = -1
        conf_start = b * t * k * 6
        for row, (i, frames, pose_sum, conf_sum) in enumerate(
            ROW.iter_unpack(data[JOB.size : JOB.size + n * ROW.size])
        ):
            pose_at, conf_at = i * t * k * 6, conf_start + i * t * k * 2
            if digest(view[pose_at : pose_at + frames * k * 6]) != pose_sum:
                bad = 2 * row
                break
            if digest(view[conf_at : conf_at + frames * k * 2]) != conf_sum:
                bad = 2 * row + 1
                break
        sock.send(VERDICT.pack(job, bad))


if __name__ == "__main__":
    serve(socket.socket(fileno=int(sys.argv[1])))
