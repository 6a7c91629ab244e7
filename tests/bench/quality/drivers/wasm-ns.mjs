// SPDX-License-Identifier: MIT
// Baseline driver for the WebAssembly suppressors from npm, run under node: RNNoise
// (@shiguredo/rnnoise-wasm, its raw 480-sample frame API) and GTCRN
// (@sapphi-red/web-noise-suppressor's AudioWorklet processor, fed 128-sample render quanta at
// 48 kHz as a browser would). Raw float32 mono 48 kHz files, a fresh state per file.
// Usage: node wasm-ns.mjs rnnoise|gtcrn LIST DELAY; each line of LIST is "IN.f32 OUT.f32".
// OUT has IN's length, with the first DELAY samples (the latency) dropped.
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const modules = join(here, "..", "node_modules");

function readF32(path) {
  const b = readFileSync(path);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

// Each factory returns { quantum, fresh() or async freshAsync() }, which give a processing
// function (Float32Array in, Float32Array out) => void over `quantum` samples, with .destroy().
async function rnnoise() {
  // built for browsers and workers only: look like a worker (the wasm is embedded)
  globalThis.WorkerGlobalScope ??= class {};
  const { Rnnoise } = await import(pathToFileURL(join(modules, "@shiguredo/rnnoise-wasm/dist/rnnoise.js")));
  const rn = await Rnnoise.load();
  return {
    quantum: rn.frameSize,
    fresh() {
      const st = rn.createDenoiseState();
      const buf = new Float32Array(rn.frameSize);
      const run = (input, output) => {
        for (let i = 0; i < buf.length; i++) buf[i] = input[i] * 32768;
        st.processFrame(buf);
        for (let i = 0; i < buf.length; i++) output[i] = buf[i] / 32768;
      };
      run.destroy = () => st.destroy();
      return run;
    },
  };
}

async function gtcrn() {
  // the worklet module registers a processor class: give it the AudioWorkletGlobalScope bits
  let Processor = null;
  globalThis.sampleRate = 48000;
  globalThis.AudioWorkletProcessor = class {
    constructor() {
      this.port = { addEventListener() {}, postMessage() {} };
    }
  };
  globalThis.registerProcessor = (_name, cls) => {
    Processor = cls;
  };
  const pkg = join(modules, "@sapphi-red/web-noise-suppressor/dist");
  await import(pathToFileURL(join(pkg, "gtcrn/workletProcessor.js")));
  const wasmBinary = readFileSync(join(pkg, "gtcrn.wasm"));
  return {
    quantum: 128,
    async freshAsync() {
      const p = new Processor({ processorOptions: { wasmBinary, maxChannels: 1 } });
      for (let i = 0; i < 1000 && !p.processor; i++) await new Promise((r) => setTimeout(r, 1));
      if (!p.processor) throw new Error("GTCRN worklet did not initialise");
      const run = (input, output) => p.process([[input]], [[output]], {});
      run.destroy = () => p.destroy();
      return run;
    },
  };
}

async function main() {
  const [system, listPath, delayArg] = process.argv.slice(2);
  const factories = { rnnoise, gtcrn };
  if (!factories[system] || !listPath || delayArg === undefined) {
    console.error("Usage: node wasm-ns.mjs rnnoise|gtcrn LIST DELAY");
    process.exit(2);
  }
  const delay = Number(delayArg);
  const sys = await factories[system]();
  const q = sys.quantum;
  const lines = readFileSync(listPath, "utf8").split("\n").filter((l) => l.trim());
  for (const line of lines) {
    const [inPath, outPath] = line.trim().split(/\s+/);
    const x = readF32(inPath);
    const padded = Math.ceil((x.length + delay) / q) * q;
    const xin = new Float32Array(padded);
    xin.set(x);
    const y = new Float32Array(padded);
    const run = sys.fresh ? sys.fresh() : await sys.freshAsync();
    for (let pos = 0; pos < padded; pos += q) run(xin.subarray(pos, pos + q), y.subarray(pos, pos + q));
    run.destroy();
    writeFileSync(outPath, Buffer.from(y.buffer, delay * 4, x.length * 4));
  }
}

main().catch((e) => {
  console.error(`wasm-ns: ${e.stack ?? e}`);
  process.exit(1);
});
