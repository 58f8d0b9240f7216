#include "grammar.h"

#include <algorithm>
#include <cstring>
#include <unordered_map>
#include <unordered_set>

namespace hearth {

// --- compiled form ---

enum class gtype : uint8_t {
  end,        // end of an alternative
  rule_ref,   // a: rule id
  chars,      // a code point in ranges [a, a + b)
  chars_not,  // a code point in none of ranges [a, a + b) (sorted, merged)
  any,        // any code point
};

struct gelem {
  gtype type = gtype::end;
  uint32_t a = 0;
  uint32_t b = 0;
};

struct grammar_rules {
  std::vector<gelem> elems;                           // every alternative, each closed by `end`
  std::vector<std::vector<uint32_t>> alts;            // per rule: where each alternative starts
  std::vector<std::pair<uint32_t, uint32_t>> ranges;  // inclusive code point ranges
  std::vector<std::string> names;                     // per rule ("" for generated ones)
  uint32_t root = 0;

  bool matches(const gelem& e, uint32_t cp) const {
    switch (e.type) {
      case gtype::any: return true;
      case gtype::chars:
      case gtype::chars_not: {
        bool in = false;
        for (uint32_t i = e.a; i < e.a + e.b && !in; ++i) in = ranges[i].first <= cp && cp <= ranges[i].second;
        return in == (e.type == gtype::chars);
      }
      default: return false;
    }
  }
  // Whether some code point in [lo, hi] matches (for an unfinished UTF-8 character).
  bool matches_some(const gelem& e, uint32_t lo, uint32_t hi) const {
    switch (e.type) {
      case gtype::any: return true;
      case gtype::chars:
        for (uint32_t i = e.a; i < e.a + e.b; ++i) {
          if (ranges[i].first <= hi && lo <= ranges[i].second) return true;
        }
        return false;
      case gtype::chars_not:  // ranges are merged: [lo, hi] is excluded only if one range covers it
        for (uint32_t i = e.a; i < e.a + e.b; ++i) {
          if (ranges[i].first <= lo && hi <= ranges[i].second) return false;
        }
        return true;
      default: return false;
    }
  }
};

namespace {

constexpr size_t max_grammar_bytes = 1u << 20;
constexpr size_t max_elements = 65536;
constexpr uint32_t max_repeat = 10000;
constexpr int max_nesting = 128;

using alternatives = std::vector<std::vector<gelem>>;

class gbnf_parser {
 public:
  explicit gbnf_parser(std::string_view src) : src_(src) {}

  grammar_rules parse(std::string_view root) {
    skip_space();
    while (pos_ < src_.size()) {
      const size_t at = pos_;
      const std::string name = parse_name();
      if (name.empty()) fail(at, "expected a rule name");
      skip_space();
      if (src_.substr(pos_, 3) != "::=") fail(pos_, "expected ::= after rule name '" + name + "'");
      pos_ += 3;
      const uint32_t id = rule_id(name, at);
      if (rules_[id].defined) fail(at, "rule '" + name + "' is defined twice");
      rules_[id].defined = true;
      current_ = name;
      rules_[id].alts = parse_alternatives(0);
      skip_space();
    }
    for (const rule& r : rules_) {
      if (!r.defined) fail(r.first_use, "rule '" + r.name + "' is used but not defined");
    }
    const auto it = ids_.find(std::string(root));
    if (it == ids_.end()) fail(src_.size(), "no rule named '" + std::string(root) + "'");
    grammar_rules g = flatten();
    g.root = it->second;
    check_left_recursion(g);
    return g;
  }

 private:
  struct rule {
    std::string name;    // "" for a rule made from a group or repetition
    alternatives alts;
    bool defined = false;
    size_t first_use = 0;
    std::string origin;  // a made rule: the named rule whose text made it
  };

  [[noreturn]] void fail(size_t at, const std::string& why) const {
    size_t line = 1, col = 1;
    for (size_t i = 0; i < at && i < src_.size(); ++i) {
      if (src_[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    throw grammar_error("line " + std::to_string(line) + ", column " + std::to_string(col) + ": " + why);
  }

  static bool is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  }

  void skip_space() {
    while (pos_ < src_.size()) {
      const char c = src_[pos_];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        ++pos_;
      } else if (c == '#') {
        while (pos_ < src_.size() && src_[pos_] != '\n') ++pos_;
      } else {
        break;
      }
    }
  }

  std::string parse_name() {
    const size_t start = pos_;
    while (pos_ < src_.size() && is_name_char(src_[pos_])) ++pos_;
    return std::string(src_.substr(start, pos_ - start));
  }

  // At `name ::=`: the next rule's definition starts here.
  bool at_rule_start() {
    const size_t saved = pos_;
    const bool named = !parse_name().empty();
    skip_space();
    const bool yes = named && src_.substr(pos_, 3) == "::=";
    pos_ = saved;
    return yes;
  }

  uint32_t rule_id(const std::string& name, size_t at) {
    const auto [it, inserted] = ids_.try_emplace(name, static_cast<uint32_t>(rules_.size()));
    if (inserted) rules_.push_back(rule{name, {}, false, at, {}});
    return it->second;
  }

  uint32_t new_rule(alternatives alts) {
    rules_.push_back(rule{"", std::move(alts), true, pos_, current_});
    count_elements(rules_.back().alts);
    return static_cast<uint32_t>(rules_.size() - 1);
  }

  void count_elements(const alternatives& alts) {
    for (const auto& a : alts) elements_ += a.size() + 1;
    if (elements_ > max_elements) fail(pos_, "the grammar is too large (over 65536 elements)");
  }

  // A UTF-8 character or escape of a literal or class; `pos_` moves past it.
  uint32_t parse_char() {
    const size_t at = pos_;
    if (src_[pos_] == '\\') {
      if (++pos_ >= src_.size()) fail(at, "an escape at the end of the grammar");
      const char c = src_[pos_++];
      switch (c) {
        case 'n': return '\n';
        case 'r': return '\r';
        case 't': return '\t';
        case '\\': case '"': case '[': case ']': case '-': case '^': case '/': case '\'': return static_cast<uint8_t>(c);
        case 'x': return parse_hex(2, at);
        case 'u': return parse_hex(4, at);
        case 'U': return parse_hex(8, at);
        default: fail(at, std::string("unknown escape \\") + c);
      }
    }
    const auto b = static_cast<uint8_t>(src_[pos_]);
    const int n = b < 0x80 ? 1 : (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 0;
    if (n == 0 || pos_ + n > src_.size()) fail(at, "invalid UTF-8");
    uint32_t cp = n == 1 ? b : n == 2 ? (b & 0x1Fu) : n == 3 ? (b & 0x0Fu) : (b & 0x07u);
    for (int i = 1; i < n; ++i) {
      const auto c = static_cast<uint8_t>(src_[pos_ + i]);
      if ((c & 0xC0) != 0x80) fail(at, "invalid UTF-8");
      cp = (cp << 6) | (c & 0x3Fu);
    }
    pos_ += n;
    return cp;
  }

  uint32_t parse_hex(int digits, size_t at) {
    uint32_t v = 0;
    for (int i = 0; i < digits; ++i, ++pos_) {
      if (pos_ >= src_.size()) fail(at, "a short hex escape");
      const char c = src_[pos_];
      const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
      if (d < 0) fail(at, "a bad hex escape");
      v = v * 16 + static_cast<uint32_t>(d);
    }
    if (v > 0x10FFFF) fail(at, "a code point above U+10FFFF");
    return v;
  }

  uint32_t parse_count() {
    const size_t at = pos_;
    uint64_t v = 0;
    bool any = false;
    while (pos_ < src_.size() && src_[pos_] >= '0' && src_[pos_] <= '9') {
      v = v * 10 + static_cast<uint64_t>(src_[pos_++] - '0');
      any = true;
      if (v > max_repeat) fail(at, "a repetition count above 10000");
    }
    if (!any) fail(at, "expected a number");
    return static_cast<uint32_t>(v);
  }

  alternatives parse_alternatives(int depth) {
    alternatives alts;
    for (;;) {
      alts.push_back(parse_sequence(depth));
      skip_space();
      if (pos_ < src_.size() && src_[pos_] == '|') {
        ++pos_;
        continue;
      }
      break;
    }
    return alts;
  }

  std::vector<gelem> parse_sequence(int depth) {
    std::vector<gelem> seq;
    for (;;) {
      skip_space();
      if (pos_ >= src_.size() || src_[pos_] == '|' || src_[pos_] == ')') break;
      if (depth == 0 && at_rule_start()) break;
      const size_t item_start = seq.size(), at = pos_;
      const char c = src_[pos_];
      if (c == '"') {
        ++pos_;
        while (pos_ < src_.size() && src_[pos_] != '"') {
          const uint32_t cp = parse_char();
          seq.push_back(gelem{gtype::chars, add_range(cp, cp), 1});
        }
        if (pos_ >= src_.size()) fail(at, "an unterminated string literal");
        ++pos_;
        if (seq.size() == item_start) {  // "": matches the empty string
          seq.push_back(gelem{gtype::rule_ref, new_rule({{}}), 0});
        }
      } else if (c == '[') {
        ++pos_;
        const bool negated = pos_ < src_.size() && src_[pos_] == '^';
        if (negated) ++pos_;
        std::vector<std::pair<uint32_t, uint32_t>> rs;
        while (pos_ < src_.size() && src_[pos_] != ']') {
          const uint32_t lo = parse_char();
          uint32_t hi = lo;
          if (pos_ + 1 < src_.size() && src_[pos_] == '-' && src_[pos_ + 1] != ']') {
            ++pos_;
            hi = parse_char();
            if (hi < lo) fail(at, "a character range whose end is below its start");
          }
          rs.emplace_back(lo, hi);
        }
        if (pos_ >= src_.size()) fail(at, "an unterminated character class");
        ++pos_;
        if (negated) {  // merged, so matches_some can decide coverage from one range
          std::sort(rs.begin(), rs.end());
          std::vector<std::pair<uint32_t, uint32_t>> merged;
          for (const auto& r : rs) {
            if (!merged.empty() && r.first <= merged.back().second + 1) {
              merged.back().second = std::max(merged.back().second, r.second);
            } else {
              merged.push_back(r);
            }
          }
          rs = std::move(merged);
        }
        const auto first = static_cast<uint32_t>(ranges_.size());
        ranges_.insert(ranges_.end(), rs.begin(), rs.end());
        seq.push_back(gelem{negated ? gtype::chars_not : gtype::chars, first, static_cast<uint32_t>(rs.size())});
      } else if (c == '.') {
        ++pos_;
        seq.push_back(gelem{gtype::any, 0, 0});
      } else if (c == '(') {
        if (depth >= max_nesting) fail(at, "parentheses nested deeper than 128 levels");
        ++pos_;
        alternatives inner = parse_alternatives(depth + 1);
        skip_space();
        if (pos_ >= src_.size() || src_[pos_] != ')') fail(at, "an unclosed (");
        ++pos_;
        seq.push_back(gelem{gtype::rule_ref, new_rule(std::move(inner)), 0});
      } else if (is_name_char(c)) {
        const std::string name = parse_name();
        seq.push_back(gelem{gtype::rule_ref, rule_id(name, at), 0});
      } else {
        fail(at, std::string("unexpected '") + c + "'");
      }
      parse_quantifier(seq, item_start);
      if (elements_ + seq.size() > max_elements) fail(pos_, "the grammar is too large (over 65536 elements)");
    }
    return seq;
  }

  uint32_t add_range(uint32_t lo, uint32_t hi) {
    ranges_.emplace_back(lo, hi);
    return static_cast<uint32_t>(ranges_.size() - 1);
  }

  // Applies * + ? {m,n} after the item that starts at seq[item_start], rewriting repetition as
  // right-recursive generated rules (which the matcher runs in constant stack depth).
  void parse_quantifier(std::vector<gelem>& seq, size_t item_start) {
    size_t p = pos_;
    while (p < src_.size() && (src_[p] == ' ' || src_[p] == '\t')) ++p;
    if (p >= src_.size() || (src_[p] != '*' && src_[p] != '+' && src_[p] != '?' && src_[p] != '{')) return;
    const size_t at = p;
    pos_ = p;
    uint32_t min = 0, max = 0;
    bool unbounded = false;
    const char q = src_[pos_++];
    if (q == '*') {
      unbounded = true;
    } else if (q == '+') {
      min = 1;
      unbounded = true;
    } else if (q == '?') {
      max = 1;
    } else {
      skip_space();
      min = max = parse_count();
      skip_space();
      if (pos_ < src_.size() && src_[pos_] == ',') {
        ++pos_;
        skip_space();
        if (pos_ < src_.size() && src_[pos_] == '}') {
          unbounded = true;
        } else {
          max = parse_count();
          if (max < min) fail(at, "a repetition {m,n} with n < m");
        }
        skip_space();
      }
      if (pos_ >= src_.size() || src_[pos_] != '}') fail(at, "an unclosed {");
      ++pos_;
    }
    // The item as one element.
    gelem item = seq[item_start];
    if (seq.size() - item_start > 1) {
      item = gelem{gtype::rule_ref, new_rule({std::vector<gelem>(seq.begin() + static_cast<ptrdiff_t>(item_start), seq.end())}), 0};
    }
    seq.resize(item_start);
    if (static_cast<uint64_t>(min) + (unbounded ? 1 : max - min) + elements_ > max_elements) {
      fail(at, "the grammar is too large (over 65536 elements)");
    }
    for (uint32_t i = 0; i < min; ++i) seq.push_back(item);
    if (unbounded) {  // R ::= item R |
      const uint32_t r = new_rule({});
      rules_[r].alts = {{item, gelem{gtype::rule_ref, r, 0}}, {}};
      count_elements(rules_[r].alts);
      seq.push_back(gelem{gtype::rule_ref, r, 0});
    } else if (max > min) {  // T_1 ::= item | ; T_k ::= item T_(k-1) |
      uint32_t inner = new_rule({{item}, {}});
      for (uint32_t k = 2; k <= max - min; ++k) inner = new_rule({{item, gelem{gtype::rule_ref, inner, 0}}, {}});
      seq.push_back(gelem{gtype::rule_ref, inner, 0});
    }
  }

  grammar_rules flatten() {
    grammar_rules g;
    g.ranges = std::move(ranges_);
    g.alts.resize(rules_.size());
    g.names.reserve(rules_.size());
    for (size_t r = 0; r < rules_.size(); ++r) {
      g.names.push_back(rules_[r].name);
      origins_.push_back(rules_[r].origin);
      for (const auto& alt : rules_[r].alts) {
        g.alts[r].push_back(static_cast<uint32_t>(g.elems.size()));
        g.elems.insert(g.elems.end(), alt.begin(), alt.end());
        g.elems.push_back(gelem{gtype::end, 0, 0});
      }
    }
    return g;
  }

  std::string rule_label(const grammar_rules& g, uint32_t r) const {
    if (!g.names[r].empty()) return "rule '" + g.names[r] + "'";
    return "a group or repetition in rule '" + origins_[r] + "'";
  }

  // A rule that can reach itself before consuming a character would make the matcher loop.
  void check_left_recursion(const grammar_rules& g) const {
    const size_t n = g.alts.size();
    std::vector<char> nullable(n, 0);
    for (bool changed = true; changed;) {
      changed = false;
      for (size_t r = 0; r < n; ++r) {
        if (nullable[r]) continue;
        for (uint32_t a : g.alts[r]) {
          uint32_t p = a;
          while (g.elems[p].type == gtype::rule_ref && nullable[g.elems[p].a]) ++p;
          if (g.elems[p].type == gtype::end) {
            nullable[r] = 1;
            changed = true;
            break;
          }
        }
      }
    }
    std::vector<std::vector<uint32_t>> left(n);
    for (size_t r = 0; r < n; ++r) {
      for (uint32_t a : g.alts[r]) {
        for (uint32_t p = a; g.elems[p].type == gtype::rule_ref; ++p) {
          left[r].push_back(g.elems[p].a);
          if (!nullable[g.elems[p].a]) break;
        }
      }
    }
    std::vector<uint8_t> color(n, 0);  // 0 new, 1 on the path, 2 done
    std::vector<std::pair<uint32_t, size_t>> stack;
    for (uint32_t s = 0; s < n; ++s) {
      if (color[s]) continue;
      stack.emplace_back(s, 0);
      color[s] = 1;
      while (!stack.empty()) {
        auto& [r, i] = stack.back();
        if (i < left[r].size()) {
          const uint32_t next = left[r][i++];
          if (color[next] == 1) {
            throw grammar_error(rule_label(g, next) +
                                " is left-recursive (it can reach itself before matching a character; a repetition "
                                "of something that can match nothing is too)");
          }
          if (color[next] == 0) {
            color[next] = 1;
            stack.emplace_back(next, 0);
          }
        } else {
          color[r] = 2;
          stack.pop_back();
        }
      }
    }
  }

  std::string_view src_;
  size_t pos_ = 0;
  size_t elements_ = 0;
  std::vector<rule> rules_;
  std::string current_;               // the rule being parsed
  std::vector<std::string> origins_;  // per compiled rule (flatten)
  std::unordered_map<std::string, uint32_t> ids_;
  std::vector<std::pair<uint32_t, uint32_t>> ranges_;
};

}  // namespace

std::shared_ptr<const grammar> grammar::parse(std::string_view gbnf, std::string_view root) {
  if (gbnf.size() > max_grammar_bytes) throw grammar_error("the grammar is over 1 MiB");
  auto g = std::make_shared<grammar>();
  g->rules_ = std::make_shared<const grammar_rules>(gbnf_parser(gbnf).parse(root));
  g->root_ = std::string(root);
  return g;
}

// --- token trie ---

token_trie::token_trie(std::span<const std::string> token_bytes, std::span<const token_id> eog)
    : n_vocab_(static_cast<int32_t>(token_bytes.size())), eog_(eog.begin(), eog.end()) {
  std::vector<std::string> bytes(token_bytes.begin(), token_bytes.end());
  for (token_id e : eog_) {
    if (e >= 0 && e < n_vocab_) bytes[static_cast<size_t>(e)].clear();
  }
  build(bytes);
}

void token_trie::build(std::span<const std::string> bytes) {
  std::vector<token_id> order;
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (!bytes[i].empty()) order.push_back(static_cast<token_id>(i));
  }
  std::sort(order.begin(), order.end(), [&](token_id a, token_id b) {
    return bytes[static_cast<size_t>(a)] < bytes[static_cast<size_t>(b)] || (bytes[static_cast<size_t>(a)] == bytes[static_cast<size_t>(b)] && a < b);
  });
  // Breadth first, so each node's children are contiguous. Work item: node, tokens [lo, hi)
  // sharing the node's `depth`-byte prefix.
  struct item { uint32_t node; size_t lo, hi, depth; };
  nodes_.assign(1, node{});
  std::vector<item> queue{{0, 0, order.size(), 0}};
  for (size_t q = 0; q < queue.size(); ++q) {
    auto [ni, lo, hi, depth] = queue[q];
    auto text = [&](size_t i) -> const std::string& { return bytes[static_cast<size_t>(order[i])]; };
    for (; lo < hi && text(lo).size() == depth; ++lo) {
      if (nodes_[ni].token < 0) {
        nodes_[ni].token = order[lo];
      } else {
        aliases_.emplace_back(order[lo], nodes_[ni].token);
      }
    }
    nodes_[ni].first_child = static_cast<uint32_t>(nodes_.size());
    while (lo < hi) {
      const auto b = static_cast<uint8_t>(text(lo)[depth]);
      size_t end = lo;
      while (end < hi && static_cast<uint8_t>(text(end)[depth]) == b) ++end;
      node child;
      child.byte = b;
      nodes_.push_back(child);
      ++nodes_[ni].n_children;
      queue.push_back({static_cast<uint32_t>(nodes_.size() - 1), lo, end, depth + 1});
      lo = end;
    }
  }
}

// --- matcher ---

namespace {

constexpr int32_t not_computed = -2;
constexpr int32_t dead = -1;
constexpr size_t max_stack_nodes = size_t{1} << 22;
constexpr size_t max_cached_masks = 1024;
// Expansion steps one transition (state, byte), and one call (accept, allowed_tokens, allows),
// may take: ordinary grammars take a few per byte; nullable tails nested as deep as the text
// take the depth at every step.
constexpr size_t max_step_work = size_t{1} << 18;
constexpr size_t max_work = size_t{1} << 24;

}  // namespace

struct grammar_matcher::impl {
  std::shared_ptr<const grammar> g;
  const grammar_rules& r;

  // Stacks are persistent lists: a node is (element, parent node); node 0 is the empty stack.
  // Every stack a state holds has a character element on top (or is node 0: the grammar may end).
  struct stack_node { uint32_t pos, parent; };
  std::vector<stack_node> nodes{{0, 0}};
  std::unordered_map<uint64_t, uint32_t> node_ids;

  struct state {
    std::vector<uint32_t> stacks;  // sorted node ids
    uint32_t partial = 0;          // bits of an unfinished UTF-8 character
    uint8_t need = 0;              // its continuation bytes still to come
    uint8_t len = 0;               // its length in bytes (2..4; 0 between characters)
    std::unique_ptr<int32_t[]> next;  // per byte: the next state, dead or not_computed
    std::vector<uint32_t> mask;       // the token mask, once computed
  };
  std::vector<state> states;
  std::unordered_map<std::string, int32_t> state_ids;
  size_t cached_masks = 0;
  int32_t current = 0;
  size_t work = 0;       // expansion steps since the last public call began (bounded by max_work)
  size_t step_work = 0;  // expansion steps of the transition being computed (max_step_work)

  explicit impl(std::shared_ptr<const grammar> gr) : g(std::move(gr)), r(g->rules()) {
    std::vector<uint32_t> start;
    std::vector<std::pair<uint32_t, uint32_t>> todo;
    for (uint32_t a : r.alts[r.root]) todo.emplace_back(a, 0);
    expand(todo, start);
    current = intern_state(std::move(start), 0, 0, 0);
  }

  uint32_t intern_node(uint32_t pos, uint32_t parent) {
    const uint64_t key = (uint64_t{pos} << 32) | parent;
    const auto [it, inserted] = node_ids.try_emplace(key, static_cast<uint32_t>(nodes.size()));
    if (inserted) {
      if (nodes.size() >= max_stack_nodes) throw std::length_error("the grammar's matcher outgrew its limit of stack nodes");
      nodes.push_back({pos, parent});
    }
    return it->second;
  }

  // Appends the stacks that continue from element `pos` over `parent`, each with a character
  // element on top (or the empty stack), expanding rule references and popping finished rules.
  // Iterative with a visited set: a pop can run down a stack as deep as the text is long, and
  // nullable rules can reach one (element, stack) pair many ways.
  // `todo` holds the (element, stack) pairs to start from; one visited set serves them all.
  void expand(std::vector<std::pair<uint32_t, uint32_t>>& todo, std::vector<uint32_t>& out) {
    std::unordered_set<uint64_t> seen;
    while (!todo.empty()) {
      const auto [p, par] = todo.back();
      todo.pop_back();
      if (!seen.insert((uint64_t{p} << 32) | par).second) continue;
      if (++step_work > max_step_work || ++work > max_work) {
        throw std::length_error("the grammar needs too much work for one token (nullable rules nested as deep as "
                                "the text, or too ambiguous)");
      }
      const gelem& e = r.elems[p];
      if (e.type == gtype::end) {
        if (par == 0) {
          out.push_back(0);
        } else {
          todo.emplace_back(nodes[par].pos, nodes[par].parent);
        }
      } else if (e.type == gtype::rule_ref) {
        const uint32_t ret = p + 1;
        const uint32_t np = r.elems[ret].type == gtype::end ? par : intern_node(ret, par);  // tail call: no frame
        const auto& alts = r.alts[e.a];
        for (auto a = alts.rbegin(); a != alts.rend(); ++a) todo.emplace_back(*a, np);
      } else {
        out.push_back(intern_node(p, par));
      }
    }
  }

  int32_t intern_state(std::vector<uint32_t> stacks, uint32_t partial, uint8_t need, uint8_t len) {
    std::sort(stacks.begin(), stacks.end());
    stacks.erase(std::unique(stacks.begin(), stacks.end()), stacks.end());
    if (stacks.empty()) return dead;
    std::string key(reinterpret_cast<const char*>(stacks.data()), stacks.size() * sizeof(uint32_t));
    key.append(reinterpret_cast<const char*>(&partial), sizeof partial);
    key.push_back(static_cast<char>(need));
    key.push_back(static_cast<char>(len));
    const auto [it, inserted] = state_ids.try_emplace(std::move(key), static_cast<int32_t>(states.size()));
    if (inserted) {
      state s;
      s.stacks = std::move(stacks);
      s.partial = partial;
      s.need = need;
      s.len = len;
      states.push_back(std::move(s));
    }
    return it->second;
  }

  int32_t advance(int32_t from, uint32_t cp) {
    std::vector<std::pair<uint32_t, uint32_t>> todo;
    for (uint32_t id : states[static_cast<size_t>(from)].stacks) {
      if (id == 0) continue;
      const stack_node n = nodes[id];
      if (r.matches(r.elems[n.pos], cp)) todo.emplace_back(n.pos + 1, n.parent);
    }
    std::vector<uint32_t> out;
    expand(todo, out);
    return intern_state(std::move(out), 0, 0, 0);
  }

  // The smallest code point a UTF-8 sequence of `len` bytes may encode (shorter is overlong).
  static uint32_t min_code_point(uint8_t len) { return len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000; }

  // The same stacks, partway through a character: alive if some stack can take a code point
  // that starts with the bytes seen so far.
  int32_t partway(int32_t from, uint32_t partial, uint8_t need, uint8_t len) {
    const uint32_t lo = std::max(partial << (6 * need), min_code_point(len));
    const uint32_t hi = std::min((partial << (6 * need)) | ((1u << (6 * need)) - 1), 0x10FFFFu);
    if (lo > hi || (lo >= 0xD800 && hi <= 0xDFFF)) return dead;  // UTF-16 surrogates are not characters
    const auto some = [&](const auto& e) {
      return (lo < 0xD800 && r.matches_some(e, lo, std::min(hi, 0xD7FFu))) ||
             (hi > 0xDFFF && r.matches_some(e, std::max(lo, 0xE000u), hi));
    };
    std::vector<uint32_t> keep;
    for (uint32_t id : states[static_cast<size_t>(from)].stacks) {
      if (id != 0 && some(r.elems[nodes[id].pos])) keep.push_back(id);
    }
    return intern_state(std::move(keep), partial, need, len);
  }

  int32_t compute_step(int32_t from, uint8_t b) {
    step_work = 0;
    const state& s = states[static_cast<size_t>(from)];
    if (s.need == 0) {
      if (b < 0x80) return advance(from, b);
      if ((b & 0xE0) == 0xC0 && b >= 0xC2) return partway(from, b & 0x1Fu, 1, 2);
      if ((b & 0xF0) == 0xE0) return partway(from, b & 0x0Fu, 2, 3);
      if (b >= 0xF0 && b <= 0xF4) return partway(from, b & 0x07u, 3, 4);
      return dead;
    }
    if ((b & 0xC0) != 0x80) return dead;
    const uint32_t partial = (s.partial << 6) | (b & 0x3Fu);
    const auto need = static_cast<uint8_t>(s.need - 1);
    if (need == 0) {
      // The character ends here; the state's stacks were kept for it, so advance them.
      if (partial < min_code_point(s.len) || partial > 0x10FFFF || (partial >= 0xD800 && partial <= 0xDFFF)) return dead;
      std::vector<std::pair<uint32_t, uint32_t>> todo;
      for (uint32_t id : s.stacks) {
        const stack_node n = nodes[id];
        if (r.matches(r.elems[n.pos], partial)) todo.emplace_back(n.pos + 1, n.parent);
      }
      std::vector<uint32_t> out;
      expand(todo, out);
      return intern_state(std::move(out), 0, 0, 0);
    }
    return partway(from, partial, need, s.len);
  }

  int32_t step(int32_t from, uint8_t b) {
    {
      state& s = states[static_cast<size_t>(from)];
      if (!s.next) {
        s.next = std::make_unique<int32_t[]>(256);
        std::fill_n(s.next.get(), 256, not_computed);
      }
      if (s.next[b] != not_computed) return s.next[b];
    }
    const int32_t to = compute_step(from, b);  // may grow `states`
    states[static_cast<size_t>(from)].next[b] = to;
    return to;
  }

  bool can_end(int32_t s) const {
    const state& st = states[static_cast<size_t>(s)];
    return st.need == 0 && st.stacks.front() == 0;
  }

  void compute_mask(int32_t s, const token_trie& trie, std::vector<uint32_t>& words) {
    words.assign((static_cast<size_t>(trie.n_vocab()) + 31) / 32, 0);
    const auto nodes_view = trie.nodes();
    struct work { uint32_t node; int32_t state; };
    std::vector<work> todo;
    auto push_children = [&](uint32_t ni, int32_t st) {
      const token_trie::node& n = nodes_view[ni];
      for (uint32_t c = n.first_child; c < n.first_child + n.n_children; ++c) todo.push_back({c, st});
    };
    push_children(0, s);
    while (!todo.empty()) {
      const work w = todo.back();
      todo.pop_back();
      const token_trie::node& n = nodes_view[w.node];
      const int32_t next = step(w.state, n.byte);
      if (next < 0) continue;
      if (n.token >= 0) words[static_cast<size_t>(n.token) / 32] |= 1u << (n.token % 32);
      push_children(w.node, next);
    }
    for (const auto& [alias, canonical] : trie.aliases()) {
      if (words[static_cast<size_t>(canonical) / 32] >> (canonical % 32) & 1u) {
        words[static_cast<size_t>(alias) / 32] |= 1u << (alias % 32);
      }
    }
    if (can_end(s)) {
      for (token_id e : trie.eog()) {
        if (e >= 0 && e < trie.n_vocab()) words[static_cast<size_t>(e) / 32] |= 1u << (e % 32);
      }
    }
  }
};

grammar_matcher::grammar_matcher(std::shared_ptr<const grammar> g) : impl_(std::make_unique<impl>(std::move(g))) {
  if (impl_->current < 0) throw grammar_error("the grammar matches nothing");
}
grammar_matcher::~grammar_matcher() = default;
grammar_matcher::grammar_matcher(grammar_matcher&&) noexcept = default;
grammar_matcher& grammar_matcher::operator=(grammar_matcher&&) noexcept = default;

bool grammar_matcher::accept(std::string_view bytes) {
  impl_->work = 0;
  int32_t s = impl_->current;
  for (char c : bytes) {
    s = impl_->step(s, static_cast<uint8_t>(c));
    if (s < 0) return false;
  }
  impl_->current = s;
  return true;
}

bool grammar_matcher::can_end() const { return impl_->can_end(impl_->current); }

bool grammar_matcher::must_end() const {
  const auto& st = impl_->states[static_cast<size_t>(impl_->current)];
  return st.need == 0 && st.stacks.size() == 1 && st.stacks.front() == 0;
}

void grammar_matcher::allowed_tokens(const token_trie& trie, std::vector<uint32_t>& words) {
  impl& m = *impl_;
  m.work = 0;
  const auto s = static_cast<size_t>(m.current);
  if (m.states[s].mask.empty()) {
    if (m.cached_masks >= max_cached_masks) {
      for (auto& st : m.states) std::vector<uint32_t>().swap(st.mask);
      m.cached_masks = 0;
    }
    std::vector<uint32_t> mask;
    m.compute_mask(m.current, trie, mask);
    m.states[s].mask = std::move(mask);
    ++m.cached_masks;
  }
  words = m.states[s].mask;
}

bool grammar_matcher::allows(const token_trie& trie, token_id id, std::string_view bytes) {
  const auto eog = trie.eog();
  if (std::find(eog.begin(), eog.end(), id) != eog.end()) return can_end();
  // Only tokens in the trie may be allowed (as in the mask): walk it beside the matcher.
  const auto nodes = trie.nodes();
  uint32_t ni = 0;
  impl_->work = 0;
  int32_t s = impl_->current;
  for (char c : bytes) {
    const token_trie::node& n = nodes[ni];
    uint32_t child = n.first_child, last = n.first_child + n.n_children;
    while (child < last && nodes[child].byte != static_cast<uint8_t>(c)) ++child;
    if (child == last) return false;
    ni = child;
    s = impl_->step(s, static_cast<uint8_t>(c));
    if (s < 0) return false;
  }
  if (ni == 0) return false;
  if (nodes[ni].token == id) return true;
  const auto aliases = trie.aliases();
  return std::find(aliases.begin(), aliases.end(), std::pair<token_id, token_id>{id, nodes[ni].token}) != aliases.end();
}

bool grammar_accepts(std::shared_ptr<const grammar> g, std::string_view text) {
  grammar_matcher m(std::move(g));
  return m.accept(text) && m.can_end();
}

}  // namespace hearth
