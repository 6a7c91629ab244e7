#!/usr/bin/python3
"""Train the band-gain denoiser; resumable, logs validation SI-SDR improvement.

State lives in the train directory (${AICD_TRAIN_DIR:-~/.cache/aicd/train}/<run>):
    last.pt      checkpoint, written every --ckpt-minutes and on SIGTERM/SIGINT
    best.pt      the checkpoint with the best validation score so far (SI-SDR improvement,
                 less a heavy penalty for ESTOI lost at 20 dB SNR)
    val.tsv      one line per validation: step, minutes, SI-SDRi, clean SI-SDR, VAD accuracy
Running the same command again continues from last.pt with the same data sequence.

    train.py --run dn48 --steps 5000 --deadline 19:40    full run (see README.md)
    train.py --smoke                                      < 2 minutes, CI
"""

import argparse
import datetime as dt
import json
import math
import os
import signal
import subprocess
import sys
import time

# Spinning OpenMP threads collapse when the 2 cores are shared (5x slower steps measured
# while a compiler ran); passive waiting keeps 2 threads at least as fast as 1.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as Fn  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import data  # noqa: E402
from model import DEFAULT_CONFIG, BandGRU, count_params, macs_per_frame  # noqa: E402

# The project's validated ESTOI (tests/bench/quality/metrics.py) scores validation at 20 dB.
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "bench", "quality"))
import metrics as qmetrics  # noqa: E402

SMOKE_CONFIG = dict(DEFAULT_CONFIG, bands=16, min_band_width=1, fine_bins=8, dense=32, gru=[32])


def train_root():
    return os.environ.get("AICD_TRAIN_DIR", os.path.expanduser("~/.cache/aicd/train"))


def log(msg):
    print(f"{dt.datetime.utcnow():%H:%M:%S} {msg}", flush=True)


# -- losses and metrics -----------------------------------------------------------------
def si_sdr(est, ref, eps=1e-8):
    """Per-example SI-SDR in dB of est against ref, both [B, n]."""
    ref = ref - ref.mean(-1, keepdim=True)
    est = est - est.mean(-1, keepdim=True)
    a = (est * ref).sum(-1, keepdim=True) / ((ref * ref).sum(-1, keepdim=True) + eps)
    t = a * ref
    return 10 * torch.log10((t * t).sum(-1) + eps) - 10 * torch.log10(((est - t) ** 2).sum(-1) + eps)


def spec_loss(g, X, S, scale, preserve=0.0):
    """Compressed (^0.3) magnitude distance in the model's own STFT domain.

    The gains are real, so |g X| = g |X| and no STFT of the output is needed. Each example is
    normalised by the target's level so quiet examples count as much as loud ones."""
    mx = (X.abs() * scale).detach()
    ms = (S.abs() * scale).detach()
    out, ref = (g * mx + 1e-6) ** 0.3, (ms + 1e-6) ** 0.3
    loss = Fn.mse_loss(out, ref)
    if preserve > 0:
        # Removing speech costs more than leaving noise: the extra term only sees bins the
        # output takes below the target, which keeps voices whole at high SNR.
        loss = loss + preserve * Fn.relu(ref - out).pow(2).mean()
    return loss


def losses(net, noisy, clean, vad_t, preserve=0.0):
    y, vad, g, X = net(noisy)
    with torch.no_grad():
        S = net.stft(clean)
        scale = 1.0 / (clean.pow(2).mean(-1).sqrt() + 1e-5)[:, None, None]
    hop = net.hop
    sdr = si_sdr(y[:, hop:], clean[:, :-hop])
    ls = spec_loss(g, X, S, scale, preserve)
    lv = Fn.binary_cross_entropy(vad.clamp(1e-6, 1 - 1e-6), vad_t)
    total = ls + 0.02 * (-sdr.clamp(max=40).mean()) + 0.1 * lv
    return total, dict(spec=float(ls), sisdr=float(sdr.mean()), vad=float(lv))


# -- data -------------------------------------------------------------------------------
class Examples(torch.utils.data.Dataset):
    def __init__(self, mixer, hop):
        self.mixer, self.hop = mixer, hop

    def __len__(self):
        return 1 << 40

    def __getitem__(self, i):
        x, s, m, _ = self.mixer.example(int(i))
        v = data.frame_vad(np.concatenate([np.zeros(self.hop, np.float32), m])[:len(m)], self.hop)
        return torch.from_numpy(x), torch.from_numpy(s), torch.from_numpy(v)


def _worker_init(_):
    torch.set_num_threads(1)


def validation_set(corpus, seconds, count, seed=1234):
    """Fixed validation mixtures: SNRs cycle through -5..20 dB, every 12th is clean only."""
    mixer = data.Mixer(corpus, seconds=seconds, seed=seed)
    snrs = [-5.0, 0.0, 5.0, 10.0, 15.0, 20.0]
    out = []
    for i in range(count):
        clean = i % 12 == 11
        x, s, m, info = mixer.example(i, snr=snrs[i % len(snrs)], clean=clean)
        out.append((x, s, m, info))
    return out


@torch.no_grad()
def evaluate(net, vset, batch=16):
    net.eval()
    hop = net.hop
    imp, clean_sdr, vad_acc, by, est20 = [], [], [], {}, []
    for k in range(0, len(vset), batch):
        chunk = vset[k:k + batch]
        x = torch.from_numpy(np.stack([c[0] for c in chunk]))
        s = torch.from_numpy(np.stack([c[1] for c in chunk]))
        y, vad, _, _ = net(x)
        out = si_sdr(y[:, hop:], s[:, :-hop])
        inp = si_sdr(x[:, :-hop], s[:, :-hop])
        for j, c in enumerate(chunk):
            m = c[2]
            vt = data.frame_vad(np.concatenate([np.zeros(hop, np.float32), m])[:len(m)], hop)
            vad_acc.append(float(((vad[j].numpy() > 0.5) == (vt > 0.5)).mean()))
            if c[3]["noise"] == "none":
                clean_sdr.append(float(out[j]))
            else:
                d = float(out[j] - inp[j])
                imp.append(d)
                if c[3].get("snr", 0) >= 20:
                    ref = c[1][:-hop]
                    est20.append(qmetrics.estoi(ref, y[j, hop:].numpy(), 48000) -
                                 qmetrics.estoi(ref, c[0][:-hop], 48000))
                by.setdefault(c[3]["noise"], []).append(d)
    net.train()
    return dict(sisdri=float(np.mean(imp)), clean_sisdr=float(np.mean(clean_sdr)) if clean_sdr else
                float("nan"), vad_acc=float(np.mean(vad_acc)),
                estoi20=float(np.mean(est20)) if est20 else 0.0,
                by_noise={k: round(float(np.mean(v)), 2) for k, v in sorted(by.items())})


def feature_stats(net, mixer, count=64):
    feats = []
    with torch.no_grad():
        for i in range(count):
            x, _, _, _ = mixer.example(10_000_000 + i)
            f, _ = net.features(net.stft(torch.from_numpy(x)[None]))
            feats.append(f[0])
    f = torch.cat(feats)
    return f.mean(0), f.std(0).clamp(min=0.1)


# -- checkpoints ------------------------------------------------------------------------
def selection_score(r):
    """What best.pt maximises: SI-SDR improvement, with any ESTOI lost at 20 dB SNR (where
    the voice must come out at least as intelligible as it went in) weighing heavily."""
    return r["sisdri"] + 40.0 * min(0.0, r.get("estoi20", 0.0))


def save(path, net, opt, step, extra):
    tmp = path + ".tmp"
    torch.save(dict(model=net.state_dict(), opt=opt.state_dict(), step=step, config=net.cfg,
                    **extra), tmp)
    os.replace(tmp, path)


def lr_at(step, total, base, warmup=300, floor=0.05, time_frac=0.0):
    """Warm-up, then cosine decay to floor * base; the decay follows whichever is further
    along, the steps or the time to the deadline, so a run cut by --deadline still anneals."""
    if step < warmup:
        return base * (step + 1) / warmup
    p = min(max((step - warmup) / max(total - warmup, 1), time_frac), 1.0)
    return base * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * p)))


def parse_deadline(s):
    if not s:
        return None
    now = dt.datetime.now(dt.timezone.utc)
    h, m = map(int, s.split(":"))
    d = now.replace(hour=h, minute=m, second=0, microsecond=0)
    if d < now - dt.timedelta(hours=12):
        d += dt.timedelta(days=1)
    return d


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default="dn48")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--batch", type=int, default=24)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--lr", type=float, default=1.5e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--val-every", type=int, default=200)
    ap.add_argument("--val-count", type=int, default=96)
    ap.add_argument("--ckpt-minutes", type=float, default=4.0)
    ap.add_argument("--deadline", help="UTC HH:MM: save, export and stop at this time")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--config", help="JSON overrides of the model configuration")
    ap.add_argument("--export", help="export best.pt here when training ends")
    ap.add_argument("--init", help="start from this checkpoint's weights (fine-tuning)")
    ap.add_argument("--preserve", type=float, default=0.0,
                    help="weight of the extra loss on speech the output removes")
    ap.add_argument("--onsets", type=float, default=0.0,
                    help="share of examples with digital silence first or noise starting mid-clip")
    a = ap.parse_args()

    t_start = time.time()
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    cfg = dict(SMOKE_CONFIG if a.smoke else DEFAULT_CONFIG)
    if a.config:
        cfg.update(json.loads(a.config))
    ddir = data.data_dir()
    if a.smoke:
        ddir = os.path.join(ddir, "smoke")
        if not os.path.exists(os.path.join(ddir, "manifest.json")):
            subprocess.run([sys.executable, os.path.join(HERE, "prepare_data.py"), "--smoke"], check=True)
        a.run, a.steps, a.batch, a.seconds = "smoke", 8, 4, 1.0
        a.val_every, a.val_count, a.workers = 4, 12, 0
    rdir = os.path.join(train_root(), a.run)
    os.makedirs(rdir, exist_ok=True)
    if a.smoke:
        for f in ("last.pt", "best.pt", "val.tsv"):
            if os.path.exists(os.path.join(rdir, f)):
                os.remove(os.path.join(rdir, f))
    deadline = parse_deadline(a.deadline)

    train_c = data.Corpus(ddir, "train")
    val_c = data.Corpus(ddir, "val")
    for line in train_c.describe():
        log(f"train {line}")
    mixer = data.Mixer(train_c, seconds=a.seconds, seed=a.seed, onsets=a.onsets)

    net = BandGRU(cfg)
    opt = torch.optim.AdamW(net.parameters(), lr=a.lr, weight_decay=1e-4)
    step, best, minutes_before = 0, -1e9, 0.0
    run_start = time.time()
    last = os.path.join(rdir, "last.pt")
    if os.path.exists(last):
        ck = torch.load(last, map_location="cpu")
        net = BandGRU(ck["config"])
        net.load_state_dict(ck["model"])
        opt = torch.optim.AdamW(net.parameters(), lr=a.lr, weight_decay=1e-4)
        opt.load_state_dict(ck["opt"])
        step, best = ck["step"], ck.get("best", best)
        minutes_before = ck.get("minutes", 0.0)
        run_start = ck.get("run_start", run_start)
        log(f"resumed from {last} at step {step}, best score {best:.2f}")
    elif a.init:
        ck = torch.load(a.init, map_location="cpu")
        net = BandGRU(ck["config"])
        net.load_state_dict(ck["model"])
        opt = torch.optim.AdamW(net.parameters(), lr=a.lr, weight_decay=1e-4)
        minutes_before = ck.get("minutes", 0.0)
        log(f"starting from {a.init} (step {ck['step']}, {minutes_before:.0f} minutes trained)")
    else:
        mean, std = feature_stats(net, mixer, 16 if a.smoke else 96)
        net.in_mean.copy_(mean)
        net.in_std.copy_(std)
    log(f"model {json.dumps(net.cfg)}: {count_params(net)} parameters, "
        f"{macs_per_frame(net) * net.cfg['sample_rate'] / net.hop / 1e6:.1f} MMAC/s of audio, band edges {net.edges}")

    vset = validation_set(val_c, a.seconds, a.val_count)
    stop = {"flag": False}

    def on_signal(sig, _):
        stop["flag"] = True
        log(f"signal {sig}: saving and stopping")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def minutes():
        return minutes_before + (time.time() - t_start) / 60

    def checkpoint(extra=None):
        save(last, net, opt, step, dict(best=best, minutes=minutes(), args=vars(a), run_start=run_start,
                                        **(extra or {})))

    def time_frac():
        if deadline is None:
            return 0.0
        total = deadline.timestamp() - run_start
        return (time.time() - run_start) / max(total, 1.0)

    def validate():
        nonlocal best
        r = evaluate(net, vset)
        line = (f"{step}\t{minutes():.1f}\t{r['sisdri']:.3f}\t{r['clean_sisdr']:.2f}\t"
                f"{r['vad_acc']:.3f}\t{r['estoi20']:.4f}\t{json.dumps(r['by_noise'])}\n")
        new = not os.path.exists(os.path.join(rdir, "val.tsv"))
        with open(os.path.join(rdir, "val.tsv"), "a") as f:
            if new:
                f.write("step\tminutes\tsisdri_db\tclean_sisdr_db\tvad_acc\testoi20_delta\tby_noise\n")
            f.write(line)
        log(f"validation step {step}: SI-SDRi {r['sisdri']:.2f} dB, clean {r['clean_sisdr']:.1f} dB, "
            f"VAD acc {r['vad_acc']:.3f}, ESTOI change at 20 dB {r['estoi20']:+.4f}, "
            f"by noise {r['by_noise']}")
        if selection_score(r) > best:
            best = selection_score(r)
            save(os.path.join(rdir, "best.pt"), net, opt, step,
                 dict(best=best, minutes=minutes(), metrics=r, args=vars(a)))
        return r

    if step == 0:
        validate()
    loader = torch.utils.data.DataLoader(
        Examples(mixer, net.hop), batch_size=a.batch,
        sampler=range(step * a.batch, a.steps * a.batch), num_workers=a.workers,
        worker_init_fn=_worker_init if a.workers else None,
        prefetch_factor=4 if a.workers else 2, persistent_workers=False)
    net.train()
    last_ckpt, t_log, acc = time.time(), time.time(), []
    for x, s, v in loader:
        for g in opt.param_groups:
            g["lr"] = lr = lr_at(step, a.steps, a.lr, time_frac=time_frac())
        loss, parts = losses(net, x, s, v, a.preserve)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        step += 1
        acc.append(dict(parts, loss=float(loss), gn=float(gn)))
        if step % 25 == 0 or a.smoke:
            m = {k: np.mean([d[k] for d in acc]) for k in acc[0]}
            log(f"step {step} loss {m['loss']:.4f} spec {m['spec']:.4f} sisdr {m['sisdr']:.2f} "
                f"vad {m['vad']:.3f} gradnorm {m['gn']:.2f} lr {lr:.2e} "
                f"{(time.time() - t_log) / len(acc):.2f} s/step")
            acc, t_log = [], time.time()
        if step % a.val_every == 0 or step == a.steps:
            validate()
        over = deadline is not None and dt.datetime.now(dt.timezone.utc) >= deadline
        if stop["flag"] or over or time.time() - last_ckpt > a.ckpt_minutes * 60 or step == a.steps:
            checkpoint()
            last_ckpt = time.time()
        if stop["flag"] or over:
            if over:
                log("deadline reached")
                validate()
                checkpoint()
            break
    log(f"stopped at step {step}, best validation score {best:.2f}, {minutes():.1f} min trained")
    if stop["flag"]:
        return 0
    dest = a.export or (os.path.join(rdir, "smoke.aicm") if a.smoke else None)
    if dest:
        cmd = [sys.executable, os.path.join(HERE, "export.py"), os.path.join(rdir, "best.pt"), dest]
        if a.smoke:
            cmd.append("--no-card")
        else:
            cmd += ["--test"]
        subprocess.run(cmd, check=True)
    if a.smoke:
        log(f"smoke test passed in {time.time() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
