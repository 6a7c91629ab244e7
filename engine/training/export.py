#!/usr/bin/python3
"""Export a training checkpoint to an `.aicm` model (+ .sha256) and update the model card.

The exported file is read back and run through the numpy reference, which must match the
training model's own forward pass; with --test the held-out test split is scored too.

    export.py CHECKPOINT OUT.aicm [--test] [--no-card] [--id ID]

The model's id is the output's file name without .aicm unless --id says otherwise; its card is
engine/models/MODEL_CARD-ID.md.
"""

import argparse
import datetime as dt
import json
import math
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import aicmodel  # noqa: E402
import data  # noqa: E402
import selfcheck  # noqa: E402
from model import BandGRU, count_params, macs_per_frame  # noqa: E402

def card_path(model_id):
    """Every model has its own card beside the shipped models."""
    return os.path.join(HERE, "..", "models", f"MODEL_CARD-{model_id}.md")

LICENCES = """| set | package(s) | licence | use |
| --- | --- | --- | --- |
| Asterisk IVR prompts (Allison, Carlo, IvrvoiceRU, Menardi; June held out for test) | asterisk-core-sounds-{en,es,fr,it,ru}-g722, asterisk-prompt-it-menardi-wav | CC-BY-SA-3.0 | speech (7 kHz / 4 kHz band) |
| KLettres letters and syllables | klettres-data | GPL-2+ | speech, full band |
| KTuberling words | ktuberling-data | GPL-2+ | speech, full band |
| gcin Mandarin syllables | gcin-voice | GPL-3 or LGPL-3 / CC-BY-3.0 | speech, full band |
| Hedgewars voice packs | hedgewars-data | GFDL-1.3 | speech, full band |
| 0 A.D. unit voices | 0ad-data | CC-BY-SA-3.0 | speech, full band |
| espeak-ng synthetic speech (a minority) | espeak-ng | program output | speech |
| bucklespring keyboard | bucklespring-data | GPL-2+ | noise |
| 0 A.D. ambience, foley, music | 0ad-data | CC-BY-SA-3.0 | noise |
| Wesnoth music | wesnoth-1.16-music | GPL-2+ | noise |
| Colobot music and effects | colobot-common-sounds | GPL-3+ | noise |
| Asterisk music on hold | asterisk-moh-opsound-g722 | CC-BY-SA-3.0 | noise |
| generated fan/HVAC noise, mains hum, room impulse responses | (generated) | - | noise, reverberation |
"""


def load(path):
    ck = torch.load(path, map_location="cpu")
    net = BandGRU(ck["config"])
    net.load_state_dict(ck["model"])
    return net.eval(), ck


def test_metrics(net, seconds=4.0, count=240):
    """SI-SDR improvement on the test split (unseen speakers and noise files)."""
    import train
    corpus = data.Corpus(data.data_dir(), "test")
    vset = train.validation_set(corpus, seconds, count, seed=4321)
    r = train.evaluate(net, vset)
    by_snr = {}
    hop = net.hop
    with torch.no_grad():
        for k in range(0, len(vset), 16):
            chunk = vset[k:k + 16]
            x = torch.from_numpy(np.stack([c[0] for c in chunk]))
            s = torch.from_numpy(np.stack([c[1] for c in chunk]))
            y, _, _, _ = net(x)
            out = train.si_sdr(y[:, hop:], s[:, :-hop])
            inp = train.si_sdr(x[:, :-hop], s[:, :-hop])
            for j, c in enumerate(chunk):
                if "snr" in c[3]:
                    by_snr.setdefault(int(round(c[3]["snr"])), []).append(
                        (float(inp[j]), float(out[j])))
    r["by_snr"] = {k: dict(input=round(float(np.mean([a for a, _ in v])), 2),
                           output=round(float(np.mean([b for _, b in v])), 2))
                   for k, v in sorted(by_snr.items())}
    r["count"] = count
    return r


def write_card(path_model, digest, net, ck, test, cmdline, notes, model_id):
    meta_cfg = net.cfg
    sr = meta_cfg["sample_rate"]
    hop_ms, win_ms = 1000 * net.hop / sr, 1000 * net.N / sr
    m = ck.get("metrics", {})
    size = os.path.getsize(path_model)
    lines = [
        f"# {model_id}",
        "",
        "Real-time speech enhancement for the aicd engine: a causal band-gain network at 48 kHz.",
        "This card is written by `engine/training/export.py` each time the model is exported.",
        "",
        "## File",
        f"- `{os.path.basename(path_model)}`, {size} bytes, SHA-256 `{digest}`",
        f"- exported {dt.datetime.utcnow():%Y-%m-%d %H:%M} UTC from a checkpoint at training step "
        f"{ck['step']} ({ck.get('minutes', 0):.0f} minutes of training on 2 CPU cores)",
        f"- command: `{cmdline}`",
        "",
        "## Model",
        f"- {sr // 1000} kHz, hop {net.hop} ({hop_ms:g} ms), window {net.N} ({win_ms:g} ms, sine), "
        f"algorithmic delay {hop_ms:g} ms",
        f"- features: log10 energies of {net.NB} ERB-spaced triangular bands + log10 power of the "
        f"lowest {net.F} FFT bins (0..{round(net.F * sr / net.N)} Hz), normalised",
        f"- network: dense {net.NB + net.F}->{meta_cfg['dense']} tanh, "
        + ", ".join(f"GRU {h}" for h in meta_cfg["gru"])
        + f", dense [last GRU, first dense]->{net.nout} sigmoid",
        f"- outputs: {net.NB} band gains, 1 voice-activity probability, {net.F} per-bin gains "
        "for the lowest bins",
        f"- {count_params(net)} parameters, {macs_per_frame(net) * sr / net.hop / 1e6:.1f} M multiply-adds per "
        "second of audio",
        (f"- gain floor {meta_cfg['gain_floor']:g} (at most {-20 * math.log10(meta_cfg['gain_floor']):.0f} dB "
         "of attenuation): keeps quiet speech whole where the network is unsure (ESTOI at high SNR) "
         "and the residual noise natural" if meta_cfg.get("gain_floor", 0) > 0 else "- no gain floor"),
        "",
        "## Metrics",
        "SI-SDR improvement in dB (output vs input, both against the clean reference, delay "
        "aligned) on mixtures of speakers and noise recordings never seen in training.",
        "",
        f"- validation ({m.get('count', 96) if isinstance(m, dict) else 96} mixtures, SNR -5..20 dB): "
        f"SI-SDRi {m.get('sisdri', float('nan')):.2f} dB, clean speech passes at "
        f"{m.get('clean_sisdr', float('nan')):.1f} dB SI-SDR, VAD frame accuracy "
        f"{m.get('vad_acc', float('nan')):.3f}; by noise {m.get('by_noise', {})}",
    ]
    if test:
        lines += [
            f"- test ({test['count']} mixtures, speakers and noise files held out): SI-SDRi "
            f"{test['sisdri']:.2f} dB, clean {test['clean_sisdr']:.1f} dB, VAD accuracy "
            f"{test['vad_acc']:.3f}",
            f"- test by noise type (SI-SDRi dB): {test['by_noise']}",
            "- test by input SNR (SI-SDR in -> out, dB): "
            + ", ".join(f"{k} dB: {v['input']} -> {v['output']}" for k, v in test["by_snr"].items()),
        ]
    lines += [
        "",
        "Expected weak spots (compare the figures by noise type): babble and music, where a "
        "gain per band cannot separate one voice from another or from tonal music.",
        "",
        "## Training data",
        "Speech and noise come from Debian packages fetched by "
        "`engine/training/prepare_data.py`; splits are by speaker or voice pack (speech) and by "
        "recording (noise); the file lists are in `engine/training/splits/`.",
        *[f"Note: {n}" for n in notes],
        "",
        LICENCES,
        "Mixing (engine/training/data.py): utterances of one speaker with pauses, 40 % through "
        "a synthetic room (target keeps the first 50 ms), random EQ, noise at -5..25 dB SNR, "
        "8 % clean-only, levels -42..-15 dBFS, 5 % clipped, 25 % band-limited (3.8..20 kHz).",
        "",
        "## Reproduce",
        "```",
        "/usr/bin/python3 engine/training/prepare_data.py",
        "/usr/bin/python3 engine/training/train.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in (ck.get("args") or {}).items()
            if k in ("run", "steps", "batch", "seconds", "lr", "deadline", "preserve", "onsets")
            and v is not None and v != 0.0)
        + (f" --config '{ck['args']['config']}'" if (ck.get("args") or {}).get("config") else ""),
        "/usr/bin/python3 engine/training/export.py ${AICD_TRAIN_DIR:-~/.cache/aicd/train}/"
        f"{(ck.get('args') or {}).get('run', 'dn48')}/best.pt engine/models/{model_id}.aicm --test"
        + (f" --gain-floor {meta_cfg['gain_floor']:g}" if meta_cfg.get("gain_floor", 0) > 0 else ""),
        "```",
        "",
    ]
    with open(card_path(model_id), "w") as f:
        f.write("\n".join(lines))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint")
    ap.add_argument("output")
    ap.add_argument("--id", help="model id (default: the output's file name without .aicm)")
    ap.add_argument("--test", action="store_true", help="score the test split for the card")
    ap.add_argument("--no-card", action="store_true")
    ap.add_argument("--note", action="append", default=[], help="a line for the card's data section")
    ap.add_argument("--gain-floor", type=float, default=0.0,
                    help="smallest gain the engine applies (0.06 = at most 24 dB of attenuation)")
    a = ap.parse_args()
    if not a.id:
        a.id = os.path.basename(a.output)[:-5] if a.output.endswith(".aicm") else None
    if not a.id:
        ap.error("--id is needed when the output's name does not end in .aicm")
    if not 0.0 <= a.gain_floor < 1.0:
        ap.error("--gain-floor must be in [0, 1)")
    net, ck = load(a.checkpoint)
    if a.gain_floor > 0:
        net.cfg["gain_floor"] = a.gain_floor
    m = ck.get("metrics", {})
    desc = (f"Causal band-gain speech enhancement, 48 kHz, {net.NB} bands + {net.F} fine bins, "
            f"{'/'.join(str(h) for h in net.cfg['gru'])} GRU; step {ck['step']}, validation SI-SDRi "
            f"{m.get('sisdri', float('nan')):.2f} dB")
    meta, tensors = net.to_aicm(a.id, desc)
    tmp = a.output + ".tmp"
    os.makedirs(os.path.dirname(os.path.abspath(a.output)), exist_ok=True)
    aicmodel.write(tmp, meta, tensors)
    model = aicmodel.read(tmp)
    err = selfcheck.check(net, 2.0, verbose=False)
    if err > 1e-5:
        os.remove(tmp)
        sys.exit(f"export: reference and training model disagree (relative error {err:.2e})")
    os.replace(tmp, a.output)
    digest = aicmodel.write_sha256(a.output)
    print(f"exported {a.output}: {len(model.raw)} bytes, sha256 {digest}, reference check {err:.1e}")
    test = None
    if a.test:
        test = test_metrics(net)
        print(f"test: SI-SDRi {test['sisdri']:.2f} dB, clean {test['clean_sisdr']:.1f} dB, "
              f"VAD acc {test['vad_acc']:.3f}, by noise {test['by_noise']}")
        print("test by SNR:", json.dumps(test["by_snr"]))
    if not a.no_card:
        home = os.path.expanduser("~")
        args = [x.replace(home, "~", 1) if x.startswith(home) else x for x in sys.argv[1:]]
        write_card(a.output, digest, net, ck, test,
                   "/usr/bin/python3 engine/training/export.py " + " ".join(
                       x for x in args if x not in a.note and x != "--note"), a.note, a.id)
        print(f"updated {os.path.normpath(card_path(a.id))}")


if __name__ == "__main__":
    main()
