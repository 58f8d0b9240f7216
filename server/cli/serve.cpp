// `hearth serve`: the daemon. Listens first (so /health can say "loading"), loads the model in
// the background, serves until SIGINT/SIGTERM, then ends in-flight streams and exits 0.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/signal_set.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include "app.h"
#include "batch_engine.h"
#include "cli/commands.h"
#include "config/server_config.h"
#include "listener.h"
#include "load_error.h"

namespace hearth::cli {

namespace {

namespace net = boost::asio;

std::string read_template(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw load_error(path + ": cannot read the chat template");
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void load(app& a) {
  const server_config& c = a.config;
  auto m = model::load(c.model);
  // The template first: a bad one fails the load before the KV cache is allocated.
  a.chat = c.chat_template.empty() ? proto::chat_template::from_gguf(m->file(), m->vocab())
                                   : proto::chat_template::from_text(read_template(c.chat_template), m->vocab(), c.chat_template);
  const hparams& hp = m->hp();
  model_engine_options o;
  o.threads = c.threads;
  o.context_length = c.ctx;
  o.max_batch = c.batch;
  o.max_logit_rows = c.parallel;
  const int64_t ctx = c.ctx > 0 ? std::min<int64_t>(c.ctx, hp.n_ctx_train) : hp.n_ctx_train;
  o.kv_blocks = c.kv_budget_mib > 0
                    ? kv_cache::blocks_for_budget(hp, static_cast<size_t>(c.kv_budget_mib) << 20, o.block_size)
                    : kv_cache::blocks_needed(ctx, o.block_size) * c.parallel;
  if (o.kv_blocks < kv_cache::blocks_needed(1, o.block_size)) {
    throw load_error("--kv-budget-mib " + std::to_string(c.kv_budget_mib) + " holds no KV block of " +
                     std::to_string(kv_cache::bytes_per_block(hp, o.block_size)) + " bytes");
  }
  auto engine = std::make_unique<model_engine>(*m, o);
  std::fprintf(stderr, "hearth: %s: %lld layers, %lld-dim, context %lld, %.1f MiB weights; KV cache %.1f MiB (%lld blocks of %d)\n",
               c.model.c_str(), static_cast<long long>(hp.n_layer), static_cast<long long>(hp.n_embd),
               static_cast<long long>(ctx), m->weight_bytes() / 1048576.0, engine->kv().bytes() / 1048576.0,
               static_cast<long long>(o.kv_blocks), o.block_size);
  scheduler_options so;
  so.max_sequences = c.parallel;
  so.queue_limit = c.queue_limit;
  a.engine_scheduler = std::make_unique<scheduler>(std::move(engine), so, &a.stats);
  a.model_id = std::filesystem::path(c.model).filename().string();
  a.model_created = std::chrono::duration_cast<std::chrono::seconds>(
                        std::chrono::file_clock::to_sys(std::filesystem::last_write_time(c.model)).time_since_epoch())
                        .count();
  a.loaded_model = std::move(m);
  a.ready.store(true, std::memory_order_release);
}

// Ends in-flight work and stops the I/O threads. Runs on its own thread: it waits.
void shut_down(app& a, listener& l, net::io_context& ioc) {
  a.stopping.store(true);
  l.stop();
  if (a.engine_scheduler) a.engine_scheduler->shutdown();  // every request gets its final event
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (a.open_exchanges.load() > 0 && std::chrono::steady_clock::now() < deadline) {
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
    auto c = load_server_config(argv, [](const char* n) { return std::getenv(n); }, &help);
    if (!c) {
      std::fputs(help.c_str(), stdout);
      return 0;
    }
    a.config = std::move(*c);
  } catch (const config_error& e) {
    std::fprintf(stderr, "hearth serve: %s\n", e.what());
    return 2;
  }
  if (a.config.model.empty()) a.config.model = HEARTH_DEFAULT_MODEL;
  if (a.config.threads == 0) a.config.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

  net::io_context ioc(a.config.io_threads);
  std::shared_ptr<listener> l;
  try {
    l = std::make_shared<listener>(ioc, net::ip::tcp::endpoint(net::ip::make_address(a.config.host), a.config.port), a);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hearth serve: cannot listen on %s port %d: %s\n", a.config.host.c_str(), a.config.port, e.what());
    return 1;
  }
  l->start();
  const auto ep = l->local_endpoint();
  const std::string host = ep.address().is_v6() ? "[" + ep.address().to_string() + "]" : ep.address().to_string();
  std::printf("hearth: listening on http://%s:%d/\n", host.c_str(), ep.port());
  std::fflush(stdout);
  if (!ep.address().is_loopback()) {
    std::fprintf(stderr, "hearth: warning: %s is not a loopback address: other machines can reach the API%s\n",
                 host.c_str(), a.config.api_keys.empty() ? " without a key (set --api-key)" : "");
  }

  int exit_code = 0;
  std::thread stopper;
  auto stop_once = [&, started = std::make_shared<std::atomic<bool>>(false)] {
    if (!started->exchange(true)) stopper = std::thread([&] { shut_down(a, *l, ioc); });
  };
  std::thread loader([&] {
    try {
      load(a);
      std::fprintf(stderr, "hearth: ready\n");
    } catch (const std::exception& e) {
      a.load_failure = e.what();
      a.failed.store(true, std::memory_order_release);
      std::fprintf(stderr, "hearth serve: %s\n", e.what());
      exit_code = 1;
      net::post(ioc, stop_once);
    }
  });
  net::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (ec) return;
    std::fprintf(stderr, "hearth: stopping\n");
    stop_once();
  });
  std::vector<std::thread> io;
  for (int i = 1; i < a.config.io_threads; ++i) io.emplace_back([&] { ioc.run(); });
  ioc.run();
  for (auto& t : io) t.join();
  loader.join();
  if (stopper.joinable()) stopper.join();
  return exit_code;
}

}  // namespace hearth::cli
