#include "proto/chat_template.h"

#include "gguf/gguf_file.h"

namespace hearth::proto {

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// "developer" is OpenAI's newer name for the system role.
std::string_view role_of(const chat_message& m) {
  return m.role == "developer" ? std::string_view("system") : std::string_view(m.role);
}

// The role a family without a tool role shows: tool output reads as the user's turn.
std::string_view user_or_assistant(std::string_view role) {
  return role == "assistant" || role == "system" ? role : std::string_view("user");
}

void append(std::string& out, std::initializer_list<std::string_view> parts) {
  for (std::string_view p : parts) out += p;
}

}  // namespace

void prompt_text::markup(std::string_view s) { text += s; }

void prompt_text::content(std::string_view s) {
  if (!literal.empty() && literal.back().end == text.size()) {
    literal.back().end += s.size();
  } else {
    literal.push_back({text.size(), text.size() + s.size()});
  }
  text += s;
}

namespace {

// Each renderer writes the format's markup with markup() and the messages' text with content(),
// so tokenize() can keep control-token texts typed by a user from becoming control tokens.
void render_chatml(const std::vector<chat_message>& messages, bool gen, prompt_text& out) {
  for (const chat_message& m : messages) {
    out.markup("<|im_start|>");
    out.markup(role_of(m));
    out.markup("\n");
    out.content(m.content);
    out.markup("<|im_end|>\n");
  }
  if (gen) out.markup("<|im_start|>assistant\n");
}

void render_llama3(const std::vector<chat_message>& messages, bool gen, prompt_text& out) {
  for (const chat_message& m : messages) {
    out.markup("<|start_header_id|>");
    out.markup(role_of(m));
    out.markup("<|end_header_id|>\n\n");
    out.content(trim(m.content));
    out.markup("<|eot_id|>");
  }
  if (gen) out.markup("<|start_header_id|>assistant<|end_header_id|>\n\n");
}

void render_phi3(const std::vector<chat_message>& messages, bool gen, prompt_text& out) {
  for (const chat_message& m : messages) {
    out.markup("<|");
    out.markup(user_or_assistant(role_of(m)));
    out.markup("|>\n");
    out.content(m.content);
    out.markup("<|end|>\n");
  }
  if (gen) out.markup("<|assistant|>\n");
}

void render_mistral_v7(const std::vector<chat_message>& messages, prompt_text& out) {
  for (const chat_message& m : messages) {
    const std::string_view role = user_or_assistant(role_of(m));
    if (role == "system") {
      out.markup("[SYSTEM_PROMPT]");
      out.content(m.content);
      out.markup("[/SYSTEM_PROMPT]");
    } else if (role == "user") {
      out.markup("[INST]");
      out.content(m.content);
      out.markup("[/INST]");
    } else {
      out.content(m.content);
      out.markup("</s>");
    }
  }
}

}  // namespace

chat_template chat_template::from_gguf(const gguf_file& f) {
  const std::optional<std::string_view> text = f.get_string("tokenizer.chat_template");
  return from_text(text.value_or(""));
}

chat_template chat_template::from_text(std::string_view t) {
  chat_template c;
  if (t.empty()) return c;  // chatml-default
  const auto has = [t](std::string_view marker) { return t.find(marker) != std::string_view::npos; };
  c.adds_bos_ = has("bos_token") || has("<|begin_of_text|>") || t.starts_with("<s>") ||
                t.starts_with("<bos>");
  if (has("<|im_start|>")) {
    c.family_ = chat_family::chatml;
    c.name_ = "chatml";
  } else if (has("[INST]") && has("[SYSTEM_PROMPT]")) {
    c.family_ = chat_family::mistral_v7;
    c.name_ = "mistral-v7";
  } else if (has("[INST]")) {
    c.family_ = chat_family::llama2;
    c.llama2_sys_ = has("<<SYS>>");
    c.llama2_bos_ = has("bos_token + '[INST]");
    c.llama2_strip_ = has("content.strip()");
    c.name_ = std::string("llama2") + (c.llama2_sys_ ? "-sys" : "") +
              (c.llama2_bos_ ? "-bos" : "") + (c.llama2_strip_ ? "-strip" : "");
  } else if (has("<|assistant|>") && has("<|end|>")) {
    c.family_ = chat_family::phi3;
    c.name_ = "phi3";
  } else if (has("<start_of_turn>")) {
    c.family_ = chat_family::gemma;
    c.name_ = "gemma";
  } else if (has("<|start_header_id|>") && has("<|end_header_id|>")) {
    c.family_ = chat_family::llama3;
    c.name_ = "llama3";
  } else {
    c.family_ = chat_family::chatml;
    c.name_ = "chatml-fallback";
  }
  return c;
}

std::string chat_template::render(const std::vector<chat_message>& messages,
                                  bool add_generation_prompt) const {
  return render_marked(messages, add_generation_prompt).text;
}

prompt_text chat_template::render_marked(const std::vector<chat_message>& messages,
                                         bool add_generation_prompt) const {
  prompt_text out;
  switch (family_) {
    case chat_family::chatml: render_chatml(messages, add_generation_prompt, out); break;
    case chat_family::llama3: render_llama3(messages, add_generation_prompt, out); break;
    case chat_family::phi3: render_phi3(messages, add_generation_prompt, out); break;
    case chat_family::gemma: render_gemma(messages, add_generation_prompt, out); break;
    case chat_family::llama2: render_llama2(messages, out); break;
    case chat_family::mistral_v7: render_mistral_v7(messages, out); break;
  }
  return out;
}

// System texts wait for the next user turn, which they open with a blank line after them.
void chat_template::render_gemma(const std::vector<chat_message>& messages, bool gen,
                                 prompt_text& out) const {
  std::string pending;
  for (const chat_message& m : messages) {
    const std::string_view role = user_or_assistant(role_of(m));
    if (role == "system") {
      append(pending, {m.content, "\n\n"});
    } else if (role == "assistant") {
      out.markup("<start_of_turn>model\n");
      out.content(trim(m.content));
      out.markup("<end_of_turn>\n");
    } else {
      out.markup("<start_of_turn>user\n");
      out.content(pending);
      out.content(trim(m.content));
      out.markup("<end_of_turn>\n");
      pending.clear();
    }
  }
  if (!pending.empty()) {
    out.markup("<start_of_turn>user\n");
    out.content(trim(pending));
    out.markup("<end_of_turn>\n");
  }
  if (gen) out.markup("<start_of_turn>model\n");
}

// The official Llama 2 template: each user turn is "<s>[INST] {text} [/INST]" and each
// assistant turn " {text} </s>"; the first turn's "<s>" is the BOS tokenize() adds.
void chat_template::render_llama2(const std::vector<chat_message>& messages,
                                  prompt_text& out) const {
  std::string system;  // system texts not yet placed, joined by blank lines
  const auto user_turn = [&](std::string_view content) {
    std::string text;
    if (!system.empty()) {
      if (llama2_sys_) append(text, {"<<SYS>>\n", system, "\n<</SYS>>\n\n"});
      else append(text, {system, content.empty() ? "" : "\n\n"});
      system.clear();
    }
    text += content;
    if (llama2_bos_ && !out.text.empty()) out.markup("<s>");
    out.markup("[INST] ");
    out.content(llama2_strip_ ? trim(text) : std::string_view(text));
    out.markup(" [/INST]");
  };
  for (const chat_message& m : messages) {
    const std::string_view role = user_or_assistant(role_of(m));
    if (role == "system") {
      if (!system.empty()) system += "\n\n";
      system += m.content;
    } else if (role == "assistant") {
      out.markup(" ");
      out.content(llama2_strip_ ? trim(m.content) : std::string_view(m.content));
      out.markup(" </s>");
    } else {
      user_turn(m.content);
    }
  }
  if (!system.empty()) user_turn("");
}

std::vector<token_id> chat_template::tokenize(const vocab& v,
                                              const std::vector<chat_message>& messages,
                                              bool add_generation_prompt) const {
  std::vector<token_id> ids;
  if ((adds_bos_ || v.add_bos()) && v.bos() >= 0) ids.push_back(v.bos());
  const prompt_text p = render_marked(messages, add_generation_prompt);
  const std::vector<token_id> body = v.tokenize(p.text, /*add_special=*/false, /*parse_special=*/true, p.literal);
  ids.insert(ids.end(), body.begin(), body.end());
  return ids;
}

}  // namespace hearth::proto
