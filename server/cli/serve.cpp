// `hearth serve`: the daemon. Listens first (so /health can say "loading"), loads the model in
// the background, serves until SIGINT/SIGTERM, then ends in-flight streams and exits 0.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <new>
#include <fstream>
#include <iterator>
#include <thread>
#include <utility>

#include "app.h"
#include "batch_engine.h"
#include "cli/commands.h"
#include "cli/load_model.h"
#include "config/server_config.h"
#include "encoder_engine.h"
#include "gguf/gguf_file.h"
#include "listener.h"
#include "load_error.h"
#include "memory_plan.h"
#include "stop_signals.h"

namespace hearth::cli {

namespace {

namespace net = boost::asio;

std::string read_template(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw load_error(path + ": cannot read the chat template");
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// What loading made, for publish().
struct loaded {
  std::unique_ptr<model> decoder;
  std::unique_ptr<model> draft;  // --draft-model
  std::unique_ptr<encoder_model> encoder;
  std::unique_ptr<scheduler> sched;
  std::optional<proto::chat_template> chat;
};

// Hands the loaded model to the request handlers, unless shutdown began meanwhile (then the
// caller's objects are destroyed unused). Under `lifecycle`, which shut_down also takes.
bool publish(app& a, loaded l) {
  std::lock_guard lock(a.lifecycle);
  if (a.stopping.load()) return false;
  a.chat = std::move(l.chat);
  a.engine_scheduler = std::move(l.sched);
  a.model_id = std::filesystem::path(a.config.model).filename().string();
  a.model_created = std::chrono::duration_cast<std::chrono::seconds>(
                        std::chrono::file_clock::to_sys(std::filesystem::last_write_time(a.config.model)).time_since_epoch())
                        .count();
  a.vocabulary = l.decoder ? &l.decoder->vocab() : &l.encoder->words;
  a.loaded_model = std::move(l.decoder);
  a.draft_model = std::move(l.draft);
  a.loaded_encoder = std::move(l.encoder);
  a.ready.store(true, std::memory_order_release);
  return true;
}

scheduler_options scheduling(const server_config& c) {
  scheduler_options so;
  so.max_sequences = c.parallel;
  so.queue_limit = c.queue_limit;
  so.prefill_share = c.prefill_share;
  return so;
}

// A BERT-style embedding model: the encoder behind the same scheduler, for /v1/embeddings only.
bool load_encoder(app& a, const gguf_file& f) {
  const server_config& c = a.config;
  if (!c.quantize.empty()) throw load_error(c.model + ": --quantize applies to decoder models, not to a BERT encoder");
  if (!c.draft_model.empty()) throw load_error(c.model + ": --draft-model applies to decoder models, not to a BERT encoder");
  if (!c.pooling.empty()) throw load_error(c.model + ": --pooling: a BERT encoder pools as its file says");
  loaded l;
  l.encoder = std::make_unique<encoder_model>(encoder_model{vocab::from_gguf(f), bert_encoder::load(f)});
  const bert_encoder& e = l.encoder->encoder;
  auto engine = std::make_unique<encoder_engine>(e, l.encoder->words, c.threads, c.parallel);
  std::fprintf(stderr, "hearth: %s: BERT encoder, %lld-dim, context %lld, %s pooling: embeddings only\n",
               c.model.c_str(), static_cast<long long>(e.dim()), static_cast<long long>(e.context_length()),
               std::string(pooling_name(e.pooling())).c_str());
  l.sched = std::make_unique<scheduler>(std::move(engine), scheduling(c), &a.stats);
  return publish(a, std::move(l));
}

// Why the draft model cannot draft for `m`, or nullopt: its tokens must be m's, id for id (the
// same bytes, the same end-of-generation tokens), since its token ids are verified as m's.
std::optional<std::string> vocabulary_mismatch(const model& m, const model& draft) {
  const vocab& a = m.vocab();
  const vocab& b = draft.vocab();
  if (a.size() != b.size()) {
    return "its vocabulary has " + std::to_string(b.size()) + " tokens, the model's " + std::to_string(a.size());
  }
  for (token_id id = 0; id < static_cast<token_id>(a.size()); ++id) {
    if (a.token_to_bytes(id) != b.token_to_bytes(id) || a.is_eog(id) != b.is_eog(id)) {
      return "its token " + std::to_string(id) + " differs from the model's";
    }
  }
  return std::nullopt;
}

// --draft-model: loaded, checked against the model's vocabulary, and given its own KV pool for
// the same sequences and context (planned in what memory is left), computing on the model's threads.
std::unique_ptr<batch_engine> load_draft(const server_config& c, const model& m, int64_t context,
                                        std::shared_ptr<thread_pool> pool, loaded& l) {
  l.draft = load_model(c.draft_model, std::nullopt, c.threads, "hearth", {}, c.pack_cache);
  if (auto why = vocabulary_mismatch(m, *l.draft)) {
    throw load_error(c.draft_model + ": cannot be the draft model of " + c.model + ": " + *why);
  }
  memory_settings ms;
  ms.sequences = c.parallel;
  ms.context = context;
  ms.context_explicit = true;
  ms.context_name = "the model's context (--ctx)";
  ms.max_batch = c.batch;
  ms.max_logit_rows = c.parallel;
  ms.threads = c.threads;
  const memory_plan plan = plan_memory(*l.draft, ms);
  std::fprintf(stderr, "hearth: draft model %s: %lld layers, %.1f MiB weights\nhearth: draft %s\n", c.draft_model.c_str(),
               static_cast<long long>(l.draft->hp().n_layer), l.draft->weight_bytes() / 1048576.0, plan.summary.c_str());
  return std::make_unique<model_engine>(*l.draft, model_engine_options::planned(ms, plan), std::move(pool));
}

// Memory is planned before any of it is taken: settings the user gave are met or refused with
// a load_error; defaults are cut to what fits and the log says what was chosen. Returns false
// if shutdown began before the model was ready: then nothing was published.
bool load(app& a) {
  const server_config& c = a.config;
  {
    const gguf_file f = gguf_file::open(c.model);
    if (f.get_string("general.architecture") == std::optional<std::string_view>("bert")) return load_encoder(a, f);
  }
  loaded l;
  l.decoder = load_model(c.model, quantize_choice(c.quantize), c.threads, "hearth", c.imatrix, c.pack_cache);
  const model& m = *l.decoder;
  // The template first: a bad one fails the load before the KV cache is allocated.
  l.chat = c.chat_template.empty() ? proto::chat_template::from_gguf(m.file(), m.vocab())
                                   : proto::chat_template::from_text(read_template(c.chat_template), m.vocab(), c.chat_template);
  const hparams& hp = m.hp();
  memory_settings ms;
  ms.sequences = c.parallel;
  ms.context = c.ctx;
  ms.context_explicit = c.ctx > 0;
  ms.kv_budget = static_cast<uint64_t>(c.kv_budget_mib) << 20;
  ms.max_batch = c.batch;
  // A logit row per sequence, and as many again per drafted token the default lets it verify
  // (speculative decoding; a request asking for more drafts what rows are left).
  ms.max_logit_rows = static_cast<int64_t>(c.parallel) * (1 + c.draft_max);
  ms.threads = c.threads;
  ms.kv_type = *kv_cache::parse_type(c.kv_type);  // checked at start-up
  const memory_plan plan = plan_memory(m, ms);
  model_engine_options eo = model_engine_options::planned(ms, plan);
  if (!c.pooling.empty()) eo.pooling = pooling_from_name(c.pooling);  // checked at start-up
  auto engine = std::make_unique<model_engine>(m, eo);
  std::fprintf(stderr, "hearth: %s: %lld layers, %lld-dim, context %lld, %.1f MiB weights\nhearth: %s\n",
               c.model.c_str(), static_cast<long long>(hp.n_layer), static_cast<long long>(hp.n_embd),
               static_cast<long long>(plan.context_length), m.weight_bytes() / 1048576.0, plan.summary.c_str());
  if (engine->pooling() != pooling_type::none) {
    std::fprintf(stderr, "hearth: embeddings: %s pooling\n", std::string(pooling_name(engine->pooling())).c_str());
  }
  std::unique_ptr<batch_engine> draft;
  if (!c.draft_model.empty()) draft = load_draft(c, m, plan.context_length, engine->pool(), l);
  l.sched = std::make_unique<scheduler>(std::move(engine), scheduling(c), &a.stats, std::move(draft));
  return publish(a, std::move(l));
}

// Memory is planned before it is taken, so this means the machine's memory went elsewhere meanwhile.
std::string load_out_of_memory(const std::string& model) {
  return model + ": out of memory while loading (it fit when planned; free memory and retry)";
}

// Ends in-flight work and stops the I/O threads. Runs on its own thread: it waits.
void shut_down(app& a, listener& l, net::io_context& ioc) {
  scheduler* sched = nullptr;
  {
    // The loader publishes under the same lock: either the scheduler is ready here, or the
    // loader will see `stopping` and publish nothing.
    std::lock_guard lock(a.lifecycle);
    a.stopping.store(true);
    if (a.is_ready()) sched = a.engine_scheduler.get();
  }
  l.stop();
  if (sched) sched->shutdown();  // every request gets its final event (shutdown)
  a.websockets.close_all();      // after those: each socket sends them, then Close 1001
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while ((a.open_exchanges.load() > 0 || a.websockets.open() > 0) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ioc.stop();
}

}  // namespace

int cmd_serve(std::span<char* const> args) {
  std::vector<std::string> argv(args.begin(), args.end());
  std::string help;
  app a;
  try {
    std::vector<std::string> notices;
    auto c = load_server_config(argv, [](const char* n) { return std::getenv(n); }, &help, &notices);
    if (!c) {
      std::fputs(help.c_str(), stdout);
      return 0;
    }
    a.config = std::move(*c);
    for (const std::string& n : notices) std::fprintf(stderr, "hearth: %s\n", n.c_str());
  } catch (const config_error& e) {
    std::fprintf(stderr, "hearth serve: %s\n", e.what());
    return 2;
  }
  try {
    quantize_choice(a.config.quantize);
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "hearth serve: --quantize: %s\n", e.what());
    return 2;
  }
  if (!a.config.imatrix.empty() && a.config.quantize.empty()) {
    std::fprintf(stderr, "hearth serve: --imatrix weighs --quantize: give both\n");
    return 2;
  }
  if (a.config.pack_cache && !a.config.quantize.empty()) {
    std::fprintf(stderr,
                 "hearth serve: --pack-cache keeps a model file's repacked weights; --quantize makes new ones at each "
                 "start: give one (hearth quantize writes the quantized file once)\n");
    return 2;
  }
  if (!a.config.pooling.empty() && !pooling_from_name(a.config.pooling)) {
    std::fprintf(stderr, "hearth serve: --pooling must be one of mean, cls, last, none (got '%s')\n",
                 a.config.pooling.c_str());
    return 2;
  }
  if (!kv_cache::parse_type(a.config.kv_type)) {
    std::fprintf(stderr, "hearth serve: --kv-type must be one of %s (got '%s')\n", kv_cache::type_names(),
                 a.config.kv_type.c_str());
    return 2;
  }
  if (a.config.model.empty()) a.config.model = HEARTH_DEFAULT_MODEL;
  if (a.config.threads == 0) a.config.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

  net::io_context ioc(a.config.io_threads);
  // Before anything is announced: a signal from then on is reported on `ioc`, never the default
  // action (which would end the process without a word), up to and through the process's exit.
  // The callback runs inside ioc.run(), after `stop` is set below.
  std::function<void()> stop;
  stop_signals signals(ioc, [&stop, first = true](int) mutable {
    if (!std::exchange(first, false)) return;  // one shutdown; later signals are absorbed
    std::fprintf(stderr, "hearth: stopping\n");
    stop();
  });
  std::shared_ptr<listener> l;
  try {
    l = std::make_shared<listener>(ioc, a.config.host, a.config.port, a);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hearth serve: cannot listen on %s port %d: %s\n", a.config.host.c_str(), a.config.port, e.what());
    return 1;
  }
  l->start();
  std::string listening;  // one write: whoever reads stdout may stop after the first line
  for (const auto& ep : l->local_endpoints()) {
    const std::string host = ep.address().is_v6() ? "[" + ep.address().to_string() + "]" : ep.address().to_string();
    listening += "hearth: listening on http://" + host + ":" + std::to_string(ep.port()) + "/\n";
    if (!ep.address().is_loopback()) {
      std::fprintf(stderr, "hearth: warning: %s is not a loopback address: other machines can reach the API%s\n",
                   host.c_str(), a.config.api_keys.empty() ? " without a key (set --api-key)" : "");
    }
  }
  std::fputs(listening.c_str(), stdout);
  std::fflush(stdout);

  int exit_code = 0;
  std::thread stopper;
  auto stop_once = [&, started = std::make_shared<std::atomic<bool>>(false)] {
    if (!started->exchange(true)) stopper = std::thread([&] { shut_down(a, *l, ioc); });
  };
  std::thread loader([&] {
    try {
      std::fputs(load(a) ? "hearth: ready\n" : "hearth: stopped before the model was ready\n", stderr);
    } catch (const std::exception& e) {
      a.load_failure = dynamic_cast<const std::bad_alloc*>(&e) ? load_out_of_memory(a.config.model) : e.what();
      a.failed.store(true, std::memory_order_release);
      std::fprintf(stderr, "hearth serve: %s\n", a.load_failure.c_str());
      exit_code = 1;
      net::post(ioc, stop_once);
    }
  });
  stop = stop_once;
  std::vector<std::thread> io;
  for (int i = 1; i < a.config.io_threads; ++i) io.emplace_back([&] { ioc.run(); });
  ioc.run();
  for (auto& t : io) t.join();
  loader.join();
  if (stopper.joinable()) stopper.join();
  return exit_code;
}

}  // namespace hearth::cli
