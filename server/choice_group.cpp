#include "choice_group.h"

#include <string_view>

#include "http_util.h"
#include "proto/generation_json.h"
#include "proto/sse.h"

namespace hearth {

namespace {

// usage (proto::to_json(usage)) with the tokens generated replaced by `generated`'s, the choices'
// sum: the prompt's counts stay (the choices share the prompt, counted once).
void set_generated(nlohmann::json& usage, const proto::usage& generated) {
  proto::usage u = proto::usage_from_json(usage);
  u.completion_tokens = generated.completion_tokens;
  u.drafted_tokens = generated.drafted_tokens;
  u.accepted_tokens = generated.accepted_tokens;
  usage = proto::to_json(u);
}

// Adds a choice's generated tokens (its usage JSON) to `sum`.
void add_generated(proto::usage& sum, const nlohmann::json& usage) {
  const proto::usage u = proto::usage_from_json(usage);
  sum.completion_tokens += u.completion_tokens;
  sum.drafted_tokens += u.drafted_tokens;
  sum.accepted_tokens += u.accepted_tokens;
}

}  // namespace

class choice_group::part final : public answer_channel {
 public:
  part(std::shared_ptr<choice_group> g, int32_t i) : g_(std::move(g)), i_(i) {}
  void respond(http::response<http::string_body> res) override { g_->respond(i_, std::move(res)); }
  void stream_begin(http::response<http::empty_body> header) override { g_->stream_begin(std::move(header)); }
  void stream_write(std::string data) override { g_->stream_write(i_, data); }
  void stream_end() override { g_->stream_end(i_); }
  void log_detail(std::string detail) override { g_->log_detail(i_, std::move(detail)); }
  const cancel_flag& cancel() const override { return g_->ex_->cancel(); }
  int64_t backlog() const override { return g_->ex_->backlog(); }

 private:
  std::shared_ptr<choice_group> g_;
  int32_t i_;
};

choice_group::choice_group(std::shared_ptr<http_exchange> ex, int32_t choices)
    : ex_(std::move(ex)), choices_(choices), whole_(static_cast<size_t>(choices)) {}

std::shared_ptr<answer_channel> choice_group::channel(int32_t i) { return std::make_shared<part>(shared_from_this(), i); }

void choice_group::respond(int32_t i, http::response<http::string_body> res) {
  std::lock_guard lock(mu_);
  if (over_) return;
  nlohmann::json body = nlohmann::json::parse(res.body(), nullptr, false);
  if (res.result_int() != 200 || !body.is_object() || !body.contains("choices") || body["choices"].size() != 1) {
    over_ = true;  // an error answers for every choice
    ex_->cancel()->store(true);
    ex_->respond(std::move(res));
    return;
  }
  body["choices"][0]["index"] = i;
  whole_[static_cast<size_t>(i)] = std::move(body);
  if (++ended_ < choices_) return;
  over_ = true;
  nlohmann::json all = nlohmann::json::array();
  proto::usage generated;
  for (auto& w : whole_) {
    all.push_back(std::move((*w)["choices"][0]));
    if (w->contains("usage") && (*w)["usage"].is_object()) add_generated(generated, (*w)["usage"]);
  }
  nlohmann::json answer = std::move(*whole_[0]);
  answer["choices"] = std::move(all);
  if (answer.contains("usage") && answer["usage"].is_object()) set_generated(answer["usage"], generated);
  ex_->respond(json_response(200, answer));
}

void choice_group::stream_begin(http::response<http::empty_body> header) {
  std::lock_guard lock(mu_);
  if (std::exchange(begun_, true) || over_) return;
  ex_->stream_begin(std::move(header));
}

void choice_group::fail_stream(const std::string& event) {
  over_ = true;
  ex_->cancel()->store(true);
  ex_->stream_write(event + std::string(proto::sse_done));
  ex_->stream_end();
}

// Each `data: ...` event of the chunk: [DONE] held, usage chunks summed and held, error events
// end the stream for all, every other chunk's choices numbered.
void choice_group::stream_write(int32_t i, const std::string& data) {
  std::lock_guard lock(mu_);
  if (over_) return;
  if (!std::exchange(begun_, true)) ex_->stream_begin(sse_header());
  std::string out;
  std::string_view rest = data;
  while (!rest.empty()) {
    const size_t end = rest.find("\n\n");
    std::string_view event = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 2);
    if (!event.starts_with("data: ")) {  // comments and other lines pass as they are
      out += std::string(event) + "\n\n";
      continue;
    }
    const std::string_view payload = event.substr(6);
    if (payload == "[DONE]") continue;
    nlohmann::json j = nlohmann::json::parse(payload, nullptr, false);
    if (!j.is_object() || j.contains("error")) {
      if (!out.empty()) ex_->stream_write(std::move(out));
      return fail_stream(std::string(event) + "\n\n");
    }
    if (j.contains("choices") && j["choices"].is_array() && j["choices"].empty() && j.contains("usage") &&
        j["usage"].is_object()) {
      add_generated(generated_, j["usage"]);
      usage_chunk_ = std::move(j);
      continue;
    }
    if (j.contains("choices") && j["choices"].is_array()) {
      for (auto& c : j["choices"]) c["index"] = i;
    }
    out += proto::sse_data(j);
  }
  if (!out.empty()) ex_->stream_write(std::move(out));
}

void choice_group::stream_end(int32_t) {
  std::lock_guard lock(mu_);
  if (over_ || ++ended_ < choices_) return;
  over_ = true;
  std::string out;
  if (usage_chunk_) {
    set_generated((*usage_chunk_)["usage"], generated_);
    out += proto::sse_data(*usage_chunk_);
  }
  out += proto::sse_done;
  ex_->stream_write(std::move(out));
  ex_->stream_end();
}

void choice_group::log_detail(int32_t i, std::string detail) {
  std::lock_guard lock(mu_);
  if (i == 0) ex_->log_detail(std::move(detail) + " choices=" + std::to_string(choices_));
}

}  // namespace hearth
