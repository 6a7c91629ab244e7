#!/usr/bin/python3
"""Copies the summary of a quality run (RESULTS.md) into BENCHMARKS.md, between the markers
`<!-- quality:begin -->` and `<!-- quality:end -->`; text around the markers is kept.

    update_benchmarks.py [RESULTS.md] [BENCHMARKS.md]
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
BEGIN, END = "<!-- quality:begin -->", "<!-- quality:end -->"
NAMES = ["aicd", "RNNoise", "GTCRN", "speexdsp", "WebRTC NS"]


def cells(line):
    return [c.strip() for c in line.strip().strip("|").split("|")]


def table_after(lines, heading):
    i = lines.index(heading)
    out = []
    for line in lines[i + 1:]:
        if line.startswith("|"):
            out.append(line)
        elif out:
            break
    return out


def summary(results_path):
    lines = open(results_path).read().splitlines()
    head = [line for line in lines[:8] if line.startswith("- ")]
    table = table_after(lines, "## Summary: mean SI-SDR improvement (dB) per category, all SNRs")
    clean = {cells(r)[0]: cells(r)[1:] for r in table_after(lines, "### clean speech (no noise added)")[2:]}
    mean, worst = clean["output SI-SDR, mean (dB)"], clean["output SI-SDR, worst clip (dB)"]
    clean_line = ("Clean speech passed through: output SI-SDR "
                  + ", ".join(f"{n} {mean[k]} dB" + (f" (worst clip {worst[k]})" if k == 0 else "")
                              for k, n in enumerate(NAMES))
                  + f"; ESTOI {clean['ESTOI, mean'][0]} for aicd.")
    t = lines.index("## Targets")
    targets = [line for line in lines[t + 1:] if line.startswith("- ")]
    rtf = {cells(r)[0]: cells(r)[3] for r in table_after(lines, "## Real-time factor (this run)")[2:]}
    return "\n".join([
        *head, "",
        "### Summary: mean SI-SDR improvement (dB) per category, all SNRs", "",
        *table, "",
        clean_line, "",
        "### Targets", "",
        *targets, "",
        "CPU time / audio time in the same run (whole processes, model load included, 2 systems "
        "at a time): " + ", ".join(f"{n} {rtf[n]}" for n in NAMES if n in rtf) + ".",
    ])


def main():
    main_with(sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "RESULTS.md"),
              sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "BENCHMARKS.md"))


def main_with(results, bench=os.path.join(ROOT, "BENCHMARKS.md")):
    text = open(bench).read()
    if BEGIN not in text or END not in text or text.index(BEGIN) > text.index(END):
        sys.exit(f"update_benchmarks: {bench} has no {BEGIN} ... {END} block")
    block = summary(results)
    new = text[:text.index(BEGIN) + len(BEGIN)] + "\n" + block + "\n" + text[text.index(END):]
    tmp = bench + ".tmp"
    with open(tmp, "w") as f:
        f.write(new)
    os.replace(tmp, bench)
    print(f"updated {os.path.relpath(bench)}")


if __name__ == "__main__":
    main()
