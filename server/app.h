#pragma once
// What the request handlers share: the settings, the model once loaded, the scheduler that runs
// it, the chat template, metrics. Owned by `hearth serve`; outlives every session.
//
// Thread-safety: the models, `vocabulary`, `engine_scheduler`, `chat` and the identity fields are written once by
// the loading thread before `ready` is set (release) and only read after it is seen (acquire).
// The loading thread publishes them, and shutdown sets `stopping`, under `lifecycle`: a load
// that ends after shutdown began publishes nothing.
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "config/server_config.h"
#include "encoder.h"
#include "metrics.h"
#include "model/model.h"
#include "proto/chat_template.h"
#include "scheduler.h"
#include "ws_registry.h"

namespace hearth {

// An embedding model without a decoder (a BERT-style encoder), as the daemon serves it.
struct encoder_model {
  vocab words;
  bert_encoder encoder;
};

struct app {
  server_config config;
  metrics stats;
  std::atomic<bool> ready{false};
  std::atomic<bool> stopping{false};
  std::unique_ptr<model> loaded_model;      // a decoder; or
  std::unique_ptr<model> draft_model;       // (with a decoder) --draft-model, for speculative decoding
  std::unique_ptr<encoder_model> loaded_encoder;  // an encoder (embeddings only)
  const vocab* vocabulary = nullptr;        // the served model's
  std::unique_ptr<scheduler> engine_scheduler;
  std::optional<proto::chat_template> chat;  // a decoder's; none for an encoder
  std::string model_id;     // the file name, as /v1/models reports it
  int64_t model_created = 0;
  std::string load_failure;  // why loading failed; read only after `failed` is seen
  std::atomic<bool> failed{false};
  // Requests still owed an answer (HTTP exchanges in progress, WebSocket generations): shutdown
  // waits, for a bounded time, until their final events are written.
  std::atomic<int64_t> open_exchanges{0};
  // Open WebSocket sessions, which shutdown closes with 1001.
  ws_registry websockets;
  std::mutex lifecycle;

  bool is_ready() const { return ready.load(std::memory_order_acquire); }
  const std::string* failure() const { return failed.load(std::memory_order_acquire) ? &load_failure : nullptr; }
};

}  // namespace hearth
