// `hearth bench`: llama-bench's method on hearth's engine. Prompt processing of p tokens in one
// batch (pp), text generation of n tokens one at a time (tg), each repeated r times; tok/s with
// standard deviation, weight bytes streamed per token, effective GB/s and GOPS, peak RSS.
// `--limits` measures the machine instead: read bandwidth, int8 and fp32 throughput.
// `--json-schema FILE` / `--grammar FILE` add constrained decoding: tg with each token sampled
// from the logits (tg-sampled) and sampled under the grammar's mask (tg-grammar), in one run, so
// the two rates compare.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <stdexcept>
#include <thread>

#include "batch_engine.h"
#include "grammar.h"
#include "token_decoder.h"
#include "cli/commands.h"
#include "cli/machine_limits.h"
#include "cli/load_model.h"
#include "cli/options.h"
#include "load_error.h"
#include "memory_plan.h"

namespace hearth::cli {

namespace {

using clock_type = std::chrono::steady_clock;

struct bench_result {
  std::string test;   // "pp128", "tg64"
  int64_t tokens = 0;
  double mean = 0, stddev = 0;  // tok/s
};

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

// Ordinary-text token ids (no control or byte tokens), seeded: speed does not depend on which.
std::vector<token_id> sample_tokens(const vocab& v, int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<token_id> out;
  while (static_cast<int64_t>(out.size()) < n) {
    token_id t = static_cast<token_id>(rng() % static_cast<uint64_t>(v.size()));
    if (v.type(t) == token_type::normal) out.push_back(t);
  }
  return out;
}

bench_result summarize(std::string name, int64_t tokens, const std::vector<double>& seconds) {
  bench_result r{std::move(name), tokens};
  std::vector<double> rates;
  for (double s : seconds) rates.push_back(static_cast<double>(tokens) / s);
  for (double x : rates) r.mean += x / static_cast<double>(rates.size());
  for (double x : rates) r.stddev += (x - r.mean) * (x - r.mean);
  r.stddev = rates.size() > 1 ? std::sqrt(r.stddev / static_cast<double>(rates.size() - 1)) : 0;
  return r;
}

bench_result run_pp(model_engine& e, const vocab& v, int64_t p, int reps) {
  std::vector<batch_entry> batch(p);
  std::vector<double> seconds;
  for (int r = -1; r < reps; ++r) {  // r == -1: warm-up, not counted
    auto tokens = sample_tokens(v, p, 1000 + r);
    int32_t seq = e.seq_create();
    e.seq_reserve(seq, p);
    for (int64_t i = 0; i < p; ++i) batch[i] = {tokens[i], static_cast<int32_t>(i), seq, i + 1 == p};
    auto t0 = clock_type::now();
    e.forward(batch);
    if (r >= 0) seconds.push_back(seconds_since(t0));
    e.seq_free(seq);
  }
  return summarize("pp" + std::to_string(p), p, seconds);
}

// n tokens generated in steps of 1 + k rows of one sequence (the pending token and k drafted
// ones, every row with logits), as the scheduler runs decode (k = 0) and verifies drafts.
// `accept_all`: every draft holds (each step advances k + 1 positions: the best case); else none
// does (each step advances one position and drops the k drafted ones: the worst). Which tokens
// are fed does not change the cost, so they are seeded; what a text's acceptance is lies between.
bench_result run_steps(model_engine& e, const vocab& v, std::string name, int64_t n, int64_t k, bool accept_all,
                       uint64_t seed, int reps) {
  std::vector<batch_entry> batch(static_cast<size_t>(k + 1));
  std::vector<double> seconds;
  int64_t produced = 0;
  for (int r = -1; r < reps; ++r) {  // r == -1: warm-up, not counted
    const auto tokens = sample_tokens(v, n + k + 1, seed + static_cast<uint64_t>(r + 1));
    const int32_t seq = e.seq_create();
    // The last step starts before n and feeds k rows after its first: n + k positions, what
    // cmd_bench sized the cache for (n alone without drafts).
    if (!e.seq_reserve(seq, n + k)) throw std::runtime_error("bench: the KV cache cannot hold " + std::to_string(n + k) + " positions");
    auto t0 = clock_type::now();
    int64_t pos = 0;
    while (pos < n) {
      for (int64_t i = 0; i <= k; ++i) batch[static_cast<size_t>(i)] = {tokens[pos + i], static_cast<int32_t>(pos + i), seq, true};
      e.forward(batch);
      pos += accept_all ? k + 1 : 1;
      if (!accept_all) {
        e.seq_truncate(seq, pos);  // which may give back the blocks of the dropped rows
        if (pos < n && !e.seq_reserve(seq, pos + k + 1)) throw std::runtime_error("bench: the KV cache ran out");
      }
    }
    if (r >= 0) seconds.push_back(seconds_since(t0));
    produced = pos;
    e.seq_free(seq);
  }
  return summarize(std::move(name), produced, seconds);
}

bench_result run_tg(model_engine& e, const vocab& v, int64_t n, int reps) {
  return run_steps(e, v, "tg" + std::to_string(n), n, 0, true, 2000, reps);
}

// Speculative decoding's verification cost (see run_steps).
bench_result run_tg_draft(model_engine& e, const vocab& v, int64_t n, int64_t k, bool accept_all, int reps) {
  return run_steps(e, v, "tg" + std::to_string(n) + "-d" + std::to_string(k) + (accept_all ? "-all" : "-none"), n, k,
                   accept_all, 3000, reps);
}

// tg where each token is sampled from the previous step's logits (the default sampler, seeded):
// without a grammar (tg-sampled) and under `constraint` (tg-grammar), repetitions interleaved so
// machine noise hits both alike. A grammar that completes starts again (a fresh decoder), so
// every run generates n tokens.
std::pair<bench_result, bench_result> run_tg_constrained(model_engine& e, const model& m, int64_t n, int reps,
                                                         const std::shared_ptr<const grammar>& constraint,
                                                         const std::shared_ptr<const token_trie>& trie) {
  const int32_t n_vocab = static_cast<int32_t>(m.hp().n_vocab);
  const token_id start = m.vocab().bos() >= 0 ? m.vocab().bos() : 0;
  std::vector<double> seconds[2];
  for (int r = -1; r < reps; ++r) {
    for (int constrained = 0; constrained < 2; ++constrained) {
      sampling_params sp;
      sp.seed = 3000 + static_cast<uint64_t>(r + 1);
      const grammar_constraint c = constrained ? grammar_constraint{constraint, trie} : grammar_constraint{};
      token_decoder decoder(sp, n_vocab, {}, -1, c);
      const int32_t seq = e.seq_create();
      e.seq_reserve(seq, n + 1);
      token_id next = start;
      const auto t0 = clock_type::now();
      for (int64_t i = 0; i < n; ++i) {
        batch_entry b{next, static_cast<int32_t>(i), seq, true};
        const decoded_token d = decoder.next(e.forward(std::span(&b, 1)), e);
        next = d.token;
        if (d.end_of_generation || d.token < 0) {
          decoder = token_decoder(sp, n_vocab, {}, -1, c);
          next = start;
        }
      }
      if (r >= 0) seconds[constrained].push_back(seconds_since(t0));
      e.seq_free(seq);
    }
  }
  const std::string tg = "tg" + std::to_string(n);
  return {summarize(tg + "-sampled", n, seconds[0]), summarize(tg + "-grammar", n, seconds[1])};
}

// Bytes of weights one forward pass reads: every matrix once (the embedding is a gather of one
// row per token, not counted), plus the norms.
size_t streamed_bytes(const model& m) {
  // A matrix's own rows: Phi-3's Q, K and V are row ranges of one tensor.
  const auto bytes_of = [](const weight& w) { return static_cast<size_t>(w.rows) * w.row_bytes; };
  size_t bytes = bytes_of(m.output());
  for (const auto& l : m.layers()) {
    for (const weight* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.ffn_gate, &l.ffn_up, &l.ffn_down}) bytes += bytes_of(*w);
  }
  return bytes;
}

// Multiply-adds of the matrices per token, times two.
double ops_per_token(const model& m) {
  double macs = static_cast<double>(m.output().rows) * static_cast<double>(m.output().cols);
  for (const auto& l : m.layers()) {
    for (const weight* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.ffn_gate, &l.ffn_up, &l.ffn_down}) {
      macs += static_cast<double>(w->rows) * static_cast<double>(w->cols);
    }
  }
  return 2 * macs;
}

long peak_rss_kib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

}  // namespace

int cmd_bench(std::span<char* const> args) {
  options opts("hearth bench -m MODEL [-p 128] [-n 64] [-t THREADS] [-r 3] [-o table|json] | hearth bench --limits",
               "Measure prompt processing (pp: p tokens in one batch) and text generation (tg: n tokens one\n"
               "at a time) like llama-bench, or with --limits the machine's read bandwidth and peak\n"
               "int8/fp32 throughput.",
               {{"model", 'm', "FILE", "GGUF model file"},
                {"n-prompt", 'p', "N", "prompt tokens processed in one batch (default 128; 0 skips pp)"},
                {"n-gen", 'n', "N", "tokens generated one at a time (default 64; 0 skips tg)"},
                {"threads", 't', "N", "compute threads (default: all cores)"},
                kv_type_option,
                {"repetitions", 'r', "N", "repetitions of each test (default 3)"},
                {"draft", 'd', "K", "also tg in verification steps of 1 + K rows (speculative decoding), every draft\n"
                                    "accepted (-all) and none (-none)"},
                {"output", 'o', "FORMAT", "table (default) or json (one object per line)"},
                {"pack-cache", 0, "", "map the repacked weights from MODEL.hearth-cache, writing it first when absent\n"
                                      "or stale (as serve --pack-cache)"},
                {"limits", 0, "", "measure the machine instead of a model"},
                json_schema_file_option,
                grammar_file_option});
  return run_command("bench", opts, args, [&] {
    const int threads = static_cast<int>(opts.get_int("threads", std::max(1u, std::thread::hardware_concurrency())));
    const std::string format = opts.get_or("output", "table");
    if (format != "table" && format != "json") throw usage_error("--output must be table or json");
    if (opts.has("limits")) return print_machine_limits(threads, format == "json");
    auto path = opts.get("model");
    if (!path) throw usage_error("missing -m MODEL");
    const int64_t p = opts.get_int("n-prompt", 128), n = opts.get_int("n-gen", 64);
    const int reps = static_cast<int>(opts.get_int("repetitions", 3));
    if (p < 0 || n < 0 || reps < 1 || threads < 1) throw usage_error("-p, -n >= 0, -r, -t >= 1");
    const std::shared_ptr<const grammar> g = grammar_option(opts);
    auto m = load_model(*path, std::nullopt, threads, "hearth bench", {}, opts.has("pack-cache"));
    m->finish_pack_cache();  // not measured while it writes
    const int64_t draft = opts.get_int("draft", 0);
    if (draft < 0 || draft > 16) throw usage_error("--draft must be from 0 to 16");
    if (p + n + (draft > 0 ? draft + 1 : 0) > m->hp().n_ctx_train) throw usage_error("p + n exceeds the model's context");
    memory_settings ms;
    ms.threads = threads;
    ms.kv_type = parse_kv_type(opts.get_or("kv-type", "f16"));
    ms.max_batch = std::max<int64_t>({p, draft + 1, 1});
    ms.max_logit_rows = draft + 1;
    ms.context = std::max<int64_t>({p, n + (draft > 0 ? draft + 1 : 0), 1});
    ms.context_explicit = true;
    ms.context_name = "-p/-n";
    ms.sequences_name = "";  // one sequence, no KV budget setting
    ms.batch_name = "-p";
    ms.budget_name = "";
    model_engine e(*m, model_engine_options::planned(ms, plan_memory(*m, ms)));
    std::vector<bench_result> results;
    if (p > 0) results.push_back(run_pp(e, m->vocab(), p, reps));
    if (n > 0) results.push_back(run_tg(e, m->vocab(), n, reps));
    if (n > 0 && draft > 0) {
      results.push_back(run_tg_draft(e, m->vocab(), n, draft, true, reps));
      results.push_back(run_tg_draft(e, m->vocab(), n, draft, false, reps));
    }
    if (g && n > 0) {
      const auto t0 = clock_type::now();
      const auto trie = std::make_shared<const token_trie>(token_trie_of(e, e.vocab_size()));
      std::fprintf(stderr, "token trie: %zu nodes for %d tokens, built in %.1f ms\n", trie->nodes().size(),
                   e.vocab_size(), seconds_since(t0) * 1e3);
      auto [plain, constrained] = run_tg_constrained(e, *m, n, reps, g, trie);
      results.push_back(plain);
      results.push_back(constrained);
    }
    const double bytes = static_cast<double>(streamed_bytes(*m));
    const double ops = ops_per_token(*m);
    if (format == "table") {
      std::printf("model: %s, %.1f MiB of weights streamed per pass, %.2f GOP per token, %d threads, kernels %s, "
                  "KV cache %s (%llu bytes per token)\n",
                  path->c_str(), bytes / 1048576.0, ops / 1e9, threads, kernels::active().name,
                  std::string(ggml_type_name(ms.kv_type)).c_str(),
                  static_cast<unsigned long long>(kv_cache::bytes_per_position(m->hp(), ms.kv_type).value()));
      std::printf("| test         |        t/s |  stddev | bytes/token |   GB/s |   GOPS |\n");
      std::printf("| ------------ | ---------: | ------: | ----------: | -----: | -----: |\n");
    }
    for (const auto& r : results) {
      // A generated token streams every weight once; a prompt pass shares one stream among p tokens.
      const double per_token = r.test.starts_with("pp") ? bytes / static_cast<double>(r.tokens) : bytes;
      const double gb_s = per_token * r.mean / 1e9, gops = ops * r.mean / 1e9;
      if (format == "table") {
        std::printf("| %-12s | %10.2f | %7.2f | %11.0f | %6.2f | %6.1f |\n", r.test.c_str(), r.mean, r.stddev, per_token,
                    gb_s, gops);
      } else {
        std::printf("{\"test\":\"%s\",\"tok_s\":%.3f,\"stddev\":%.3f,\"bytes_per_token\":%.0f,\"gb_s\":%.3f,"
                    "\"gops\":%.2f,\"threads\":%d,\"kernels\":\"%s\",\"peak_rss_mib\":%.1f}\n",
                    r.test.c_str(), r.mean, r.stddev, per_token, gb_s, gops, threads, kernels::active().name,
                    peak_rss_kib() / 1024.0);
      }
    }
    if (format == "table") std::printf("peak RSS: %.1f MiB\n", peak_rss_kib() / 1024.0);
    return 0;
  });
}

}  // namespace hearth::cli
