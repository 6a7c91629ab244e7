#!/usr/bin/python3
"""Unit tests of the model container, the reference and the tiny test models.

    /usr/bin/python3 -m unittest engine/training/test_training.py
"""

import os
import struct
import subprocess
import sys
import tempfile
import unittest
import zlib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import aicd_ref  # noqa: E402
import aicmodel  # noqa: E402
import make_tiny_models  # noqa: E402


def tiny():
    return make_tiny_models.make_tiny(make_tiny_models.probe_signal())


def recrc(data):
    data = bytearray(data)
    struct.pack_into("<I", data, 20, zlib.crc32(bytes(data[24:])) & 0xFFFFFFFF)
    return bytes(data)


class Container(unittest.TestCase):
    def test_roundtrip(self):
        meta, t = tiny()
        data = aicmodel.pack(meta, t)
        m = aicmodel.parse(data)
        self.assertEqual(data[:8], b"AICDMODL")
        json_len = struct.unpack_from("<I", data, 12)[0]
        blob_len = struct.unpack_from("<I", data, 16)[0]
        self.assertEqual((len(data) - blob_len) % 16, 0)
        self.assertEqual(len(data), 24 + json_len + (-(24 + json_len)) % 16 + blob_len)
        for k, v in t.items():
            np.testing.assert_array_equal(m.t(k), np.asarray(v, np.float32))

    def test_corruption_is_refused(self):
        meta, t = tiny()
        data = aicmodel.pack(meta, t)
        flipped = bytearray(data)
        flipped[-3] ^= 1
        with self.assertRaises(aicmodel.ModelError):
            aicmodel.parse(bytes(flipped))
        with self.assertRaises(aicmodel.ModelError):
            aicmodel.parse(data[:-4])
        with self.assertRaises(aicmodel.ModelVersionError):
            aicmodel.parse(data[:8] + struct.pack("<I", 2) + data[12:])
        with self.assertRaises(aicmodel.ModelError):
            aicmodel.parse(b"AICDMODX" + data[8:])

    def test_semantic_checks(self):
        bad = [
            lambda m, t: m.update(window=1000),
            lambda m, t: m.update(band_edges=[0, 5, 5, 9]),
            lambda m, t: m.update(band_edges=list(range(0, 482, 30)) + [481]),
            lambda m, t: m["layers"][1].update(inputs=[2]),
            lambda m, t: m["layers"][2].update(inputs=[1]),
            lambda m, t: m["layers"][0].update(activation="gelu"),
            lambda m, t: m["outputs"].update(vad=17),
            lambda m, t: m.update(fine_bins=500),
            lambda m, t: t.update({"l2.bias": np.full(17, np.nan)}),
        ]
        for i, f in enumerate(bad):
            meta, t = tiny()
            f(meta, t)
            with self.subTest(i=i), self.assertRaises(aicmodel.ModelError):
                aicmodel.pack(meta, t)

    def test_out_of_bounds_tensor(self):
        meta, t = tiny()
        data = aicmodel.pack(meta, t)
        json_len = struct.unpack_from("<I", data, 12)[0]
        js = data[24:24 + json_len].replace(b'"offset":0', b'"offset":9999999', 1)
        pad = (-(24 + len(js))) % 16
        blob = data[24 + json_len + (-(24 + json_len)) % 16:]
        out = data[:12] + struct.pack("<II", len(js), len(blob)) + b"\0\0\0\0" + js + b"\0" * pad + blob
        with self.assertRaises(aicmodel.ModelError):
            aicmodel.parse(recrc(out))


class Reference(unittest.TestCase):
    def test_unit_gains_delay_one_hop(self):
        meta, t = tiny()
        t["l2.weight"] = np.zeros_like(t["l2.weight"])
        t["l2.bias"] = np.full_like(t["l2.bias"], 60.0)
        m = aicmodel.parse(aicmodel.pack(meta, t))
        x = np.random.default_rng(3).standard_normal((2, 4800))
        y, vad = aicd_ref.process(m, x)
        np.testing.assert_allclose(y[:, 480:], x[:, :-480], atol=1e-12)
        np.testing.assert_allclose(y[:, :480], 0, atol=1e-12)
        self.assertEqual(len(vad), 10)

    def test_level_zero_is_dry(self):
        m = aicmodel.read(os.path.join(ROOT, "tests", "data", "tiny-fine.aicm"))
        x = np.random.default_rng(4).standard_normal((1, 4800))
        y, _ = aicd_ref.process(m, x, level=0.0)
        np.testing.assert_allclose(y[:, 480:], x[:, :-480], atol=1e-12)

    def test_torch_matches_reference(self):
        import torch
        import selfcheck
        from model import BandGRU
        torch.manual_seed(0)
        net = BandGRU(dict(sample_rate=48000, hop=480, bands=20, min_band_width=1, fine_bins=16,
                           dense=24, gru=[16, 12], feature_eps=1e-9))
        with torch.no_grad():
            net.out.weight.mul_(8.0)
            net.in_std.fill_(2.0)
        self.assertLess(selfcheck.check(net, 1.0, verbose=False), 1e-5)


class TinyModels(unittest.TestCase):
    def test_shipped_tiny_models_are_reproducible(self):
        with tempfile.TemporaryDirectory() as d:
            subprocess.run([sys.executable, os.path.join(HERE, "make_tiny_models.py"), d],
                           check=True, stdout=subprocess.DEVNULL)
            for name in ("tiny.aicm", "tiny-fine.aicm"):
                with open(os.path.join(d, name), "rb") as a, \
                        open(os.path.join(ROOT, "tests", "data", name), "rb") as b:
                    self.assertEqual(a.read(), b.read(), name)


if __name__ == "__main__":
    unittest.main()
