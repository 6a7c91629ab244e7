// SPDX-License-Identifier: MIT
// Baseline driver: WebRTC's noise suppression (AudioProcessing, level "high", every other
// module off) over raw float32 mono 48 kHz files, a fresh instance per file.
// Usage: webrtc-ns LIST DELAY, where each line of LIST is "IN.f32 OUT.f32"; OUT has IN's length,
// with the first DELAY samples (the suppressor's latency) dropped and the tail flushed with zeros.
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <webrtc/modules/audio_processing/include/audio_processing.h>

static const int kRate = 48000;
static const size_t kFrame = 480;

static bool read_f32(const std::string &path, std::vector<float> &x) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f)
    return false;
  std::streamsize size = f.tellg();
  f.seekg(0);
  x.resize(size / sizeof(float));
  return bool(f.read(reinterpret_cast<char *>(x.data()), x.size() * sizeof(float)));
}

static bool process_file(const std::string &in_path, const std::string &out_path, size_t delay) {
  std::vector<float> x, y;
  if (!read_f32(in_path, x)) {
    std::cerr << "webrtc-ns: cannot read " << in_path << "\n";
    return false;
  }
  std::unique_ptr<webrtc::AudioProcessing> apm(webrtc::AudioProcessing::Create());
  webrtc::StreamConfig cfg(kRate, 1);
  webrtc::ProcessingConfig pc = {{cfg, cfg, cfg, cfg}};
  if (!apm || apm->Initialize(pc) != 0 || apm->high_pass_filter()->Enable(false) != 0 ||
      apm->noise_suppression()->set_level(webrtc::NoiseSuppression::kHigh) != 0 ||
      apm->noise_suppression()->Enable(true) != 0) {
    std::cerr << "webrtc-ns: cannot set up AudioProcessing\n";
    return false;
  }
  size_t n = x.size();
  size_t padded = (n + delay + kFrame - 1) / kFrame * kFrame;
  x.resize(padded, 0.0f);
  y.resize(padded, 0.0f);
  for (size_t pos = 0; pos < padded; pos += kFrame) {
    const float *src[1] = {x.data() + pos};
    float *dst[1] = {y.data() + pos};
    if (apm->ProcessStream(src, cfg, cfg, dst) != 0) {
      std::cerr << "webrtc-ns: ProcessStream failed on " << in_path << "\n";
      return false;
    }
  }
  std::ofstream out(out_path, std::ios::binary);
  if (!out.write(reinterpret_cast<const char *>(y.data() + delay), std::streamsize(n * sizeof(float)))) {
    std::cerr << "webrtc-ns: cannot write " << out_path << "\n";
    return false;
  }
  return true;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    std::cerr << "Usage: webrtc-ns LIST DELAY\n";
    return 2;
  }
  std::ifstream list(argv[1]);
  if (!list) {
    std::cerr << "webrtc-ns: cannot read " << argv[1] << "\n";
    return 1;
  }
  int ret = 0;
  size_t delay = std::stoul(argv[2]);
  std::string in_path, out_path;
  while (list >> in_path >> out_path)
    if (!process_file(in_path, out_path, delay))
      ret = 1;
  return ret;
}
