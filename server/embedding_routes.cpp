// POST /v1/embeddings: parse and tokenize on the I/O thread; each input becomes one embedding
// request to the scheduler (generation_request::embed), so inputs share its batches with
// everyone else's work. A request's inputs are submitted a window at a time (`parallel` of
// them), the next as each finishes, so a 2,048-input request neither fills the queue nor
// starves other clients; the answer goes out when the last vector is in.
#include <mutex>

#include "generation_setup.h"
#include "proto/embeddings_api.h"
#include "proto/generation_json.h"
#include "routes.h"

namespace hearth {

namespace {

using request = http::request<http::string_body>;

class embedding_job : public std::enable_shared_from_this<embedding_job> {
 public:
  embedding_job(app& a, std::shared_ptr<http_exchange> ex, std::vector<std::vector<token_id>> inputs, bool base64,
                std::optional<int64_t> dimensions, client_share client)
      : a_(a),
        client_(std::move(client)),
        ex_(std::move(ex)),
        inputs_(std::move(inputs)),
        vectors_(inputs_.size()),
        base64_(base64),
        dimensions_(dimensions),
        window_(std::max(1, a.config.parallel)) {
    for (const auto& in : inputs_) prompt_tokens_ += static_cast<int64_t>(in.size());
  }

  void start() {
    std::lock_guard lock(mu_);
    submit_more();
  }

  // One input's end (the scheduler thread).
  void done(size_t index, const finish_event& e) {
    std::lock_guard lock(mu_);
    --in_flight_;
    if (answered_) return;
    if (e.reason != proto::finish_reason::stop || e.embedding.empty()) {
      const bool shutdown = e.reason == proto::finish_reason::shutdown;
      if (e.reason == proto::finish_reason::cancelled) {  // the client is gone: nobody to answer
        answered_ = true;
        ex_->cancel()->store(true);
        return;
      }
      return fail(shutdown ? proto::shutdown_error()
                           : proto::api_error{500, "input[" + std::to_string(index) + "]: " +
                                                       (e.error.empty() ? "the embedding failed" : e.error),
                                              "server_error", "", ""});
    }
    vectors_[index] = e.embedding;
    if (dimensions_) truncate_embedding(vectors_[index], *dimensions_);
    if (++finished_ == inputs_.size()) {
      answered_ = true;
      ex_->log_detail("embeddings: " + std::to_string(inputs_.size()) + " inputs, " + std::to_string(prompt_tokens_) +
                      " tokens");
      ex_->respond(json_response(200, proto::embeddings_response(a_.model_id, vectors_, base64_, prompt_tokens_)));
      return;
    }
    submit_more();
  }

 private:
  class sink final : public token_sink {
   public:
    sink(std::shared_ptr<embedding_job> job, size_t index) : job_(std::move(job)), index_(index) {}
    bool on_token(const token_event&) override { return false; }  // an embedding generates none
    void on_finish(const finish_event& e) override { job_->done(index_, e); }

   private:
    std::shared_ptr<embedding_job> job_;
    size_t index_;
  };

  // mu_ held. Submits inputs while fewer than window_ run; waits for one to finish when the
  // queue is full and some of ours are in it, else answers the refusal.
  void submit_more() {
    while (!answered_ && next_ < inputs_.size() && in_flight_ < window_) {
      generation_request r;
      r.prompt = inputs_[next_];
      r.embed = true;
      r.client = client_;
      r.cancel = ex_->cancel();
      const submit_status s = a_.engine_scheduler->submit(std::move(r), std::make_shared<sink>(shared_from_this(), next_));
      if (s == submit_status::accepted) {
        ++in_flight_;
        ++next_;
        continue;
      }
      if (s == submit_status::queue_full && in_flight_ > 0) return;  // the next finish submits again
      const size_t n = inputs_[next_].size();
      return fail(refusal_of(s, n));
    }
  }

  proto::api_error refusal_of(submit_status s, size_t tokens) const {
    if (s == submit_status::too_long) {
      return {400, "input[" + std::to_string(next_) + "] (" + std::to_string(tokens) + " tokens) does not fit in the KV cache",
              "invalid_request_error", "input", "context_length_exceeded"};
    }
    return refusal(a_, s, tokens, 0);
  }

  // mu_ held. The first failure answers; the inputs still running are cancelled.
  void fail(const proto::api_error& e) {
    answered_ = true;
    ex_->cancel()->store(true);
    auto res = error_response(e);
    if (e.status == 429) res.set(http::field::retry_after, "1");
    ex_->respond(std::move(res));
  }

  app& a_;
  client_share client_;
  std::shared_ptr<http_exchange> ex_;
  std::vector<std::vector<token_id>> inputs_;
  std::vector<std::vector<float>> vectors_;
  bool base64_;
  std::optional<int64_t> dimensions_;
  int window_;
  int64_t prompt_tokens_ = 0;
  std::mutex mu_;
  size_t next_ = 0;      // the next input to submit
  int in_flight_ = 0;    // submitted, not finished
  size_t finished_ = 0;  // vectors in
  bool answered_ = false;
};

}  // namespace

void handle_embeddings(app& a, const std::shared_ptr<http_exchange>& ex, const request& req) {
  const scheduler& s = *a.engine_scheduler;
  if (s.pooling() == pooling_type::none) {
    return ex->respond(error_response(proto::api_error{
        400,
        "the model '" + a.model_id +
            "' cannot embed: its GGUF has no pooling_type (a text-generation model); serve an embedding model, "
            "or start hearth with --pooling mean|last to embed with this one",
        "invalid_request_error", "model", "model_cannot_embed"}));
  }
  auto parsed = proto::parse_embeddings(req.body(), model_limits(a));
  if (auto* e = std::get_if<proto::api_error>(&parsed)) return ex->respond(error_response(*e));
  auto& r = std::get<proto::embeddings_request>(parsed);
  if (r.dimensions && *r.dimensions > s.embedding_dim()) {
    return ex->respond(error_response(proto::bad_request(
        "dimensions", "dimensions is " + std::to_string(*r.dimensions) + "; this model's embeddings have " +
                          std::to_string(s.embedding_dim()))));
  }
  std::vector<std::vector<token_id>> inputs;
  inputs.reserve(r.inputs.size());
  for (size_t i = 0; i < r.inputs.size(); ++i) {
    auto& in = r.inputs[i];
    std::vector<token_id> tokens = std::holds_alternative<std::string>(in)
                                       ? a.vocabulary->tokenize(std::get<std::string>(in), true, false)
                                       : std::move(std::get<std::vector<int32_t>>(in));
    const std::string name = r.inputs.size() == 1 ? "input" : "input[" + std::to_string(i) + "]";
    if (tokens.empty()) return ex->respond(error_response(proto::bad_request("input", name + " has no tokens")));
    if (static_cast<int64_t>(tokens.size()) > s.context_length()) {
      return ex->respond(error_response(proto::api_error{
          400,
          name + " is " + std::to_string(tokens.size()) + " tokens; the model embeds at most " +
              std::to_string(s.context_length()),
          "invalid_request_error", "input", "context_length_exceeded"}));
    }
    inputs.push_back(std::move(tokens));
  }
  std::make_shared<embedding_job>(a, ex, std::move(inputs), r.base64, r.dimensions, client_of(a, req, ex->peer()))->start();
}

}  // namespace hearth
