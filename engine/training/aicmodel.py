"""Reader and writer of the `.aicm` model container (engine/MODEL-FORMAT.md, version 1).

`write()` packs a metadata dict and named float32 tensors; `read()` parses a file and
refuses anything the engine would refuse, so Python and C agree on what a valid model is.
"""

import json
import math
import struct
import zlib

import numpy as np

MAGIC = b"AICDMODL"
VERSION = 1
HEADER_LEN = 24
MAX_JSON = 1 << 20
MAX_FILE = 64 << 20
MAX_DIM = 8192
ACTIVATIONS = ("linear", "relu", "tanh", "sigmoid")


class ModelError(ValueError):
    pass


class ModelVersionError(ModelError):
    pass


class Model:
    """A parsed model: `meta` (the JSON object) and `tensors` (name -> float32 array)."""

    def __init__(self, meta, tensors, raw=None):
        self.meta = meta
        self.tensors = tensors
        self.raw = raw

    def t(self, name):
        return self.tensors[name]

    @property
    def layers(self):
        return self.meta["layers"]


def _pad_to(n, align):
    return (-n) % align


def pack(meta, tensors):
    """Return the bytes of a model file.

    meta: metadata dict without "tensors" (it is filled in here, in the order of `tensors`).
    tensors: dict name -> array (1 or 2 dims), converted to float32 little-endian.
    Each tensor starts at a multiple of 4 floats (16 bytes) inside the blob.
    """
    meta = dict(meta)
    entries = []
    chunks = []
    off = 0
    for name, arr in tensors.items():
        a = np.ascontiguousarray(np.asarray(arr, dtype="<f4"))
        if a.ndim not in (1, 2):
            raise ModelError(f"tensor {name}: {a.ndim} dims")
        gap = _pad_to(off, 4)
        if gap:
            chunks.append(np.zeros(gap, dtype="<f4"))
            off += gap
        entries.append({"name": name, "shape": list(a.shape), "offset": off})
        chunks.append(a.reshape(-1))
        off += a.size
    meta["tensors"] = entries
    blob = (np.concatenate(chunks) if chunks else np.zeros(0, "<f4")).astype("<f4").tobytes()
    js = json.dumps(meta, separators=(",", ":"), allow_nan=False).encode("utf-8")
    pad = _pad_to(HEADER_LEN + len(js), 16)
    body = js + b"\0" * pad + blob
    crc = zlib.crc32(body) & 0xFFFFFFFF
    head = MAGIC + struct.pack("<IIII", VERSION, len(js), len(blob), crc)
    data = head + body
    parse(data)  # never write what the reader would refuse
    return data


def write(path, meta, tensors):
    data = pack(meta, tensors)
    with open(path, "wb") as f:
        f.write(data)
    return data


def read(path):
    with open(path, "rb") as f:
        data = f.read(MAX_FILE + 1)
    return parse(data)


def _req(cond, msg):
    if not cond:
        raise ModelError(msg)


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def parse(data):
    """Parse and validate a whole file; raise ModelError (or ModelVersionError)."""
    _req(len(data) <= MAX_FILE, "file larger than 64 MiB")
    _req(len(data) >= HEADER_LEN, "truncated header")
    _req(data[:8] == MAGIC, "bad magic")
    version, json_len, blob_len, crc = struct.unpack_from("<IIII", data, 8)
    if version != VERSION:
        raise ModelVersionError(f"unsupported format version {version}")
    _req(1 <= json_len <= MAX_JSON, "json_len out of range")
    _req(blob_len % 4 == 0, "blob_len not a multiple of 4")
    pad = _pad_to(HEADER_LEN + json_len, 16)
    _req(len(data) == HEADER_LEN + json_len + pad + blob_len, "file size mismatch")
    _req((zlib.crc32(data[HEADER_LEN:]) & 0xFFFFFFFF) == crc, "CRC mismatch")
    try:
        meta = json.loads(data[HEADER_LEN:HEADER_LEN + json_len].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ModelError(f"bad metadata JSON: {e}") from None
    _req(isinstance(meta, dict), "metadata is not a JSON object")
    blob_off = HEADER_LEN + json_len + pad
    blob = np.frombuffer(data, dtype="<f4", count=blob_len // 4, offset=blob_off)
    tensors = _tensors(meta, blob)
    validate(meta, tensors)
    return Model(meta, tensors, raw=data)


def _tensors(meta, blob):
    lst = meta.get("tensors")
    _req(isinstance(lst, list), "tensors missing")
    out = {}
    for t in lst:
        _req(isinstance(t, dict), "tensor entry not an object")
        name, shape, off = t.get("name"), t.get("shape"), t.get("offset")
        _req(isinstance(name, str) and name, "tensor without name")
        _req(name not in out, f"duplicate tensor {name}")
        _req(isinstance(shape, list) and len(shape) in (1, 2), f"tensor {name}: bad shape")
        _req(all(_is_int(d) and 1 <= d <= MAX_DIM for d in shape), f"tensor {name}: bad dim")
        _req(_is_int(off) and off >= 0, f"tensor {name}: bad offset")
        n = math.prod(shape)
        _req(off + n <= blob.size, f"tensor {name}: out of bounds")
        a = blob[off:off + n].reshape(shape).astype(np.float32)
        _req(bool(np.all(np.isfinite(a))), f"tensor {name}: non-finite weight")
        out[name] = a
    return out


def layer_inputs(i, layer):
    inp = layer.get("inputs", [i - 1])
    return inp


def validate(meta, tensors):
    """Semantic checks of the metadata against the tensors (see MODEL-FORMAT.md)."""
    sr, hop, win = meta.get("sample_rate"), meta.get("hop"), meta.get("window")
    _req(_is_int(sr) and 8000 <= sr <= 192000, "sample_rate out of range")
    _req(_is_int(hop) and 16 <= hop <= 4096, "hop out of range")
    _req(_is_int(win) and win == 2 * hop, "window must be 2 x hop")
    K = win // 2 + 1
    edges = meta.get("band_edges")
    _req(isinstance(edges, list) and 2 <= len(edges) <= 256, "band_edges: bad count")
    _req(all(_is_int(e) and e >= 0 for e in edges), "band_edges: not non-negative integers")
    _req(all(a < b for a, b in zip(edges, edges[1:])), "band_edges: not strictly increasing")
    _req(edges[-1] < K, "band_edges: last edge >= K")
    NB = len(edges)
    F = meta.get("fine_bins")
    _req(_is_int(F) and 0 <= F <= K, "fine_bins out of range")
    eps = meta.get("feature_eps")
    _req(isinstance(eps, (int, float)) and not isinstance(eps, bool)
         and math.isfinite(eps) and eps > 0, "feature_eps must be a positive number")
    if "gain_floor" in meta:
        fl = meta["gain_floor"]
        _req(isinstance(fl, (int, float)) and not isinstance(fl, bool) and math.isfinite(fl)
             and 0 <= fl < 1, "gain_floor must be a number in [0, 1)")

    def tensor(name, shape, what):
        _req(isinstance(name, str) and name in tensors, f"{what}: unknown tensor {name!r}")
        _req(list(tensors[name].shape) == list(shape),
             f"{what}: tensor {name} has shape {list(tensors[name].shape)}, want {list(shape)}")

    norm = meta.get("input_norm")
    _req(isinstance(norm, dict), "input_norm missing")
    tensor(norm.get("mean"), [NB + F], "input_norm.mean")
    tensor(norm.get("std"), [NB + F], "input_norm.std")
    _req(bool(np.all(tensors[norm["std"]] != 0)), "input_norm.std has a zero")

    layers = meta.get("layers")
    _req(isinstance(layers, list) and len(layers) >= 1, "layers missing")
    widths = []
    for i, L in enumerate(layers):
        what = f"layer {i}"
        _req(isinstance(L, dict), f"{what}: not an object")
        inp = layer_inputs(i, L)
        _req(isinstance(inp, list) and len(inp) >= 1, f"{what}: bad inputs")
        total = 0
        for j in inp:
            _req(_is_int(j) and -1 <= j < i, f"{what}: input {j} is not an earlier layer")
            total += (NB + F) if j == -1 else widths[j]
        typ = L.get("type")
        if typ == "dense":
            I, O = L.get("in"), L.get("out")
            _req(_is_int(I) and _is_int(O) and 1 <= I <= MAX_DIM and 1 <= O <= MAX_DIM,
                 f"{what}: bad in/out")
            _req(L.get("activation") in ACTIVATIONS, f"{what}: bad activation")
            tensor(L.get("weight"), [O, I], what)
            tensor(L.get("bias"), [O], what)
            width = O
        elif typ == "gru":
            I, H = L.get("in"), L.get("hidden")
            _req(_is_int(I) and _is_int(H) and 1 <= I <= MAX_DIM and 1 <= 3 * H <= MAX_DIM,
                 f"{what}: bad in/hidden")
            tensor(L.get("weight_ih"), [3 * H, I], what)
            tensor(L.get("weight_hh"), [3 * H, H], what)
            tensor(L.get("bias_ih"), [3 * H], what)
            tensor(L.get("bias_hh"), [3 * H], what)
            width = H
        else:
            raise ModelError(f"{what}: unknown type {typ!r}")
        _req(I == total, f"{what}: in={I} but inputs sum to {total}")
        widths.append(width)

    outs = meta.get("outputs")
    _req(isinstance(outs, dict), "outputs missing")
    W = widths[-1]
    g, v, fg = outs.get("gains"), outs.get("vad", -1), outs.get("fine_gains", -1)
    _req(_is_int(g) and 0 <= g and g + NB <= W, "outputs.gains out of range")
    _req(_is_int(v) and (v == -1 or 0 <= v < W), "outputs.vad out of range")
    _req(_is_int(fg) and (fg == -1 or (0 <= fg and fg + F <= W)), "outputs.fine_gains out of range")
    return widths


def sha256_file(path):
    import hashlib
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_sha256(path):
    import os
    digest = sha256_file(path)
    with open(path + ".sha256", "w") as f:
        f.write(f"{digest}  {os.path.basename(path)}\n")
    return digest


if __name__ == "__main__":
    import sys
    for p in sys.argv[1:]:
        m = read(p)
        n = sum(a.size for a in m.tensors.values())
        print(f"{p}: ok, id={m.meta.get('id')} bands={len(m.meta['band_edges'])} "
              f"fine_bins={m.meta['fine_bins']} layers={len(m.layers)} params={n}")
