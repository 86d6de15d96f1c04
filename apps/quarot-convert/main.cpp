// quarot-convert: the QuaRot stages as subcommands, and `all` to run them in one go.
//   fuse      fold RMSNorm scales into the linears (untie embeddings)
//   rotate    randomized-Hadamard rotation of the residual stream + online transforms
//   quantize  RTN or GPTQ weights; records the activation and KV-cache quantizers
//   pack      INT4 codes two per byte, 16-bit embeddings/lm_head (the CUDA runner's input)
//   all       fuse -> rotate -> quantize [-> pack], intermediate outputs in OUT.work/
#include <CLI/CLI.hpp>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "apps/common/cli.h"
#include "apps/stages/stages.h"
#include "lib/core/progress.h"

namespace fs = std::filesystem;
using namespace quarot;

namespace {

void add_io(CLI::App* c, StageIO& io) {
  c->add_option("--in", io.in, "Input checkpoint directory")->required()->check(CLI::ExistingDirectory);
  c->add_option("--out", io.out, "Output directory (written atomically; never the input)")->required();
  c->add_flag("--overwrite", io.overwrite, "Replace --out if it exists");
  c->add_option("--device", io.device, "cpu or cuda");
}

void add_rotation(CLI::App* c, RotationOptions& r) {
  c->add_option("--mode", r.mode, "hadamard (QuaRot) or random orthogonal")->check(CLI::IsMember({"hadamard", "random"}));
  c->add_option("--seed", r.seed, "Seed of the random signs / orthogonal matrix");
  c->add_flag("!--no-online-down", r.online_down, "Skip the online Hadamard on down_proj's input");
  c->add_flag("!--no-online-o", r.online_o, "Skip the head-wise Hadamard on v/o");
  c->add_flag("!--no-online-qk", r.online_qk, "Skip the Hadamard on Q and K after RoPE");
}

void add_quantize(CLI::App* c, QuantizeOptions& q) {
  c->add_option("--method", q.method, "rtn or gptq")->check(CLI::IsMember({"rtn", "gptq"}));
  c->add_option("--w-bits", q.w_bits, "Weight bits")->check(CLI::Range(2, 8));
  c->add_option("--groupsize", q.groupsize, "Weight group size (0: per output channel)")->check(CLI::NonNegativeNumber);
  c->add_flag("--w-clip,!--no-w-clip", q.w_clip, "Clipping-ratio search per row (default on)");
  c->add_flag("--w-asym", q.asymmetric, "Asymmetric weight grid");
  c->add_option("--a-bits", q.a_bits, "Activation bits recorded for run time (16 = off)")->check(CLI::Range(2, 16));
  c->add_option("--a-clip", q.a_clip, "Activation clip ratio (default 0.9 at <= 4 bits, else 1)")->check(CLI::Range(0.01, 1.0));
  c->add_option("--kv-bits", q.kv_bits, "KV-cache bits, K and V (16 = off)")->check(CLI::Range(2, 16));
  c->add_option("--kv-clip", q.kv_clip, "KV-cache clip ratio (default 0.95 at <= 4 bits, else 1)")->check(CLI::Range(0.01, 1.0));
  c->add_option("--calib", q.calib, "GPTQ calibration text: wikitext2:DIR or text:FILE");
  c->add_option("--nsamples", q.calib_windows, "GPTQ calibration windows")->check(CLI::PositiveNumber);
  c->add_option("--calib-seqlen", q.calib_seqlen, "GPTQ calibration window length (capped by the model)")
      ->check(CLI::PositiveNumber);
  c->add_option("--calib-seed", q.calib_seed, "Seed for sampling calibration windows");
  c->add_option("--damp", q.damp, "GPTQ damping, fraction of the mean Hessian diagonal")->check(CLI::Range(0.0, 1.0));
  c->add_flag("--act-order", q.act_order, "GPTQ: quantize columns in order of decreasing Hessian diagonal");
}

void print_summary(const StageSummary& s, bool json) {
  if (json) {
    nlohmann::json j = {{"stage", s.stage}, {"seconds", s.seconds}, {"detail", s.detail}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("%s: %s (%.1fs)\n", s.stage.c_str(), s.detail.c_str(), s.seconds);
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"quarot-convert: QuaRot stages for Hugging Face Llama checkpoints"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "quarot-convert 0.1.0");
  bool json = false, quiet = false;
  app.add_flag("--json", json, "Print the summary as JSON");
  app.add_flag("-q,--quiet", quiet, "No progress output");

  StageIO io;
  RotationOptions rot;
  QuantizeOptions qopt;
  bool pack = false;
  std::string dtype;
  CLI::App* fuse = app.add_subcommand("fuse", "Fold RMSNorm scales into the following linears");
  CLI::App* rotate = app.add_subcommand("rotate", "Rotate the residual stream; record online Hadamards");
  CLI::App* quantize = app.add_subcommand("quantize", "Quantize weights (RTN or GPTQ)");
  CLI::App* packc = app.add_subcommand("pack", "Pack 4-bit codes two per byte for the CUDA runner");
  CLI::App* all = app.add_subcommand("all", "fuse -> rotate -> quantize [-> pack] in one command");
  for (CLI::App* c : {fuse, rotate, quantize, packc, all}) {
    add_io(c, io);
    c->add_option("--dtype", dtype, "Storage dtype of float tensors (default float32)");
    c->fallthrough();
  }
  add_rotation(rotate, rot);
  add_quantize(quantize, qopt);
  add_rotation(all, rot);
  add_quantize(all, qopt);
  all->add_flag("--pack", pack, "Also pack to INT4 (needs --w-bits 4)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : kExitUsage;
  }
  io.store_dtype = dtype;
  if (quiet || json) Progress::set_enabled(false);
  return run_guarded("quarot-convert", [&] {
    if (fuse->parsed()) print_summary(run_fuse(io), json);
    if (rotate->parsed()) print_summary(run_rotate(io, rot), json);
    if (quantize->parsed()) print_summary(run_quantize(io, qopt), json);
    if (packc->parsed()) print_summary(run_pack(io), json);
    if (all->parsed()) {
      // Intermediate stages go to OUT.work/; the final output is the last stage's.
      fs::path work = io.out;
      work += ".work";
      fs::create_directories(work);
      StageIO s = io;
      s.overwrite = true;
      s.out = work / "fused";
      print_summary(run_fuse(s), json);
      s.in = s.out;
      s.out = work / "rotated";
      print_summary(run_rotate(s, rot), json);
      s.in = s.out;
      s.out = pack ? work / "quantized" : io.out;
      s.overwrite = pack ? true : io.overwrite;
      print_summary(run_quantize(s, qopt), json);
      if (pack) {
        s.in = s.out;
        s.out = io.out;
        s.overwrite = io.overwrite;
        print_summary(run_pack(s), json);
      }
    }
    return int(kExitOk);
  });
}
