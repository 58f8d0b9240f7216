#!/usr/bin/env node
// Scheduler benchmarks for `hearth serve` (Node.js standard library only; loopback only, every
// scenario bounded in requests and time). Prints one JSON line per scenario.
//
//   node scripts/bench-sched.mjs --url http://127.0.0.1:PORT --scenario memory [--clients 16] [--requests 4]
//        [--kv-positions N --context C]   (scripts/bench-sched passes these from the server's log)
//
// memory: `clients` clients each send `requests` chat requests one after another, without
//   max_tokens (so a server that reserves KV for max_tokens up front reserves the whole context
//   for each) and ending at the first line break (--stop), as a chat answer ends long before the
//   context does. Reported: the most sequences that ran at once (hearth_running_sequences minus
//   hearth_parked_sequences, polled every 10 ms), the most streams a client saw in flight at once,
//   how many reservation of the whole context would allow on the same pool (its positions over
//   the context: up_front_limit), and their ratio; failures; preemptions.
// preemption: the same pool under pressure: `clients` greedy requests of 160 tokens each need
//   more blocks than the pool has, so sequences are preempted and recomputed. Reported:
//   preemptions, failures, and how many answers differ from the same request sent alone
//   afterwards (must be 0: preemption changes no token).
import { setMaxListeners } from 'node:events';
import http from 'node:http';

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const url = new URL(opt('url', 'http://127.0.0.1:8080'));
const scenario = opt('scenario', 'memory');

// The API key requests present (the fair scenario's server has keys; /metrics needs one too).
let apiKey = null;
const auth = (key = apiKey) => (key ? { Authorization: `Bearer ${key}` } : {});

function get(path) {
  return new Promise((resolve, reject) => {
    http.get(new URL(path, url), { agent: false, headers: auth() }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    }).on('error', reject);
  });
}

async function metrics() {
  const { body } = await get('/metrics');
  const out = {};
  for (const line of body.split('\n')) {
    const m = /^(hearth_[a-z_]+) ([0-9.e+-]+)$/.exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

// One streamed POST; calls onEvent(parsed JSON) per SSE data event; resolves with the status
// and, for a non-200, the error body. `key`: the API key to present (default: apiKey).
function stream(path, payload, onEvent, key = apiKey, signal = undefined) {
  const body = JSON.stringify(payload);
  return new Promise((resolve, reject) => {
    const req = http.request(new URL(path, url), {
      method: 'POST', agent: false, signal,
      headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), ...auth(key) },
    }, (res) => {
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        buffer += chunk;
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const event = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (res.statusCode === 200 && event.startsWith('data: ') && event !== 'data: [DONE]') onEvent(JSON.parse(event.slice(6)));
        }
      });
      res.on('end', () => resolve({ status: res.statusCode, error: res.statusCode === 200 ? null : buffer }));
      res.on('error', (e) => (signal?.aborted ? resolve({ status: 0, error: 'aborted' }) : reject(e)));
    });
    req.on('error', (e) => (signal?.aborted ? resolve({ status: 0, error: 'aborted' }) : reject(e)));
    req.end(body);
  });
}

const topics = ['a dog', 'the sea', 'a red ball', 'a little bird', 'the moon', 'a big tree', 'a cake', 'a boat',
  'the rain', 'a cat', 'a garden', 'a train', 'the snow', 'a box', 'a flower', 'the sun'];

async function memory() {
  const clients = Number(opt('clients', 16));
  const requests = Number(opt('requests', 4));
  const stop = opt('stop', '\n');
  const before = await metrics();
  let peakRunning = 0, polling = true;
  const poller = (async () => {
    while (polling) {
      const m = await metrics();
      peakRunning = Math.max(peakRunning, (m.hearth_running_sequences ?? 0) - (m.hearth_parked_sequences ?? 0));
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  let inFlight = 0, peakInFlight = 0, failures = 0, done = 0, tokens = 0;
  const errors = [];
  const t0 = performance.now();
  await Promise.all(Array.from({ length: clients }, async (_, c) => {
    for (let k = 0; k < requests; ++k) {
      let started = false;
      const r = await stream('/v1/chat/completions', {
        messages: [{ role: 'user', content: `Tell me a story about ${topics[(c + k) % topics.length]}.` }],
        stream: true, stream_options: { include_usage: true }, temperature: 0.8, seed: c * 100 + k, stop: [stop],
      }, (ev) => {
        if (ev.choices?.[0]?.delta?.content && !started) {
          started = true;
          peakInFlight = Math.max(peakInFlight, ++inFlight);
        }
        if (ev.choices?.[0]?.finish_reason) {
          if (ev.choices[0].finish_reason !== 'stop' && ev.choices[0].finish_reason !== 'length') {
            ++failures;
            errors.push(ev.choices[0].finish_reason);
          }
        }
        if (ev.error) { ++failures; errors.push(ev.error.message); }
        if (ev.usage) tokens += ev.usage.completion_tokens;
      });
      if (started) --inFlight;
      if (r.status !== 200) { ++failures; errors.push(`HTTP ${r.status}: ${r.error}`); }
      ++done;
    }
  }));
  const wall = (performance.now() - t0) / 1000;
  polling = false;
  await poller;
  const after = await metrics();
  // The pool's positions and the context, from the server's start-up line (see scripts/bench-sched).
  const positions = Number(opt('kv-positions', NaN)), context = Number(opt('context', NaN));
  return {
    scenario: 'memory', clients, requests: done, stop, failures, errors: errors.slice(0, 5), wall_s: +wall.toFixed(2),
    generated_tokens: tokens, kv_positions: positions, context,
    up_front_limit: Math.floor(positions / context),
    peak_running: peakRunning, peak_streams_in_flight: peakInFlight,
    ratio: +(peakRunning / Math.floor(positions / context)).toFixed(2),
    preemptions: (after.hearth_preemptions_total ?? 0) - (before.hearth_preemptions_total ?? 0),
    recomputed_tokens: (after.hearth_recomputed_tokens_total ?? 0) - (before.hearth_recomputed_tokens_total ?? 0),
  };
}

async function collect(payload) {
  let text = '', finish = null, status = 0;
  const r = await stream('/v1/chat/completions', { ...payload, stream: true }, (ev) => {
    text += ev.choices?.[0]?.delta?.content ?? '';
    finish = ev.choices?.[0]?.finish_reason ?? finish;
  });
  status = r.status;
  return { text, finish, status };
}

async function preemption() {
  const clients = Number(opt('clients', 16));
  const before = await metrics();
  const payload = (c) => ({
    messages: [{ role: 'user', content: `Tell me a story about ${topics[c % topics.length]}.` }],
    temperature: 0, max_tokens: 160,
  });
  const t0 = performance.now();
  const together = await Promise.all(Array.from({ length: clients }, (_, c) => collect(payload(c))));
  const wall = (performance.now() - t0) / 1000;
  const after = await metrics();
  let differ = 0;
  for (let c = 0; c < clients; ++c) {
    const alone = await collect(payload(c));
    if (alone.text !== together[c].text) ++differ;
  }
  return {
    scenario: 'preemption', clients, wall_s: +wall.toFixed(2),
    failures: together.filter((r) => r.status !== 200 || (r.finish !== 'stop' && r.finish !== 'length')).length,
    preemptions: (after.hearth_preemptions_total ?? 0) - (before.hearth_preemptions_total ?? 0),
    recomputed_tokens: (after.hearth_recomputed_tokens_total ?? 0) - (before.hearth_recomputed_tokens_total ?? 0),
    answers_differing_from_alone: differ,
  };
}

// prefill: `streams` greedy streams decode; their inter-token gaps are measured for `window`
//   seconds alone, then while another client's prompt of `prompt-tokens` token ids is prefilled
//   (max_tokens 1: its time to first token is its prefill). The same prompt alone gives the solo
//   prefill time. Reported: the streams' inter-token p50/p99 unloaded and during the prefill,
//   their ratio, and the prompt's prefill rate under load as a share of its solo rate.
function longPrompt(n, salt) {
  let state = (salt + 1) * 2654435761 >>> 0;
  return Array.from({ length: n }, () => 3 + ((state = (state * 1664525 + 1013904223) >>> 0) % 250));  // ids every vocabulary has
}

async function timeToFirstToken(prompt, key = apiKey, extra = {}) {
  const t0 = performance.now();
  let first = null;
  const r = await stream('/v1/completions', { prompt, max_tokens: 1, temperature: 0, stream: true, ...extra }, (ev) => {
    if (first === null && ev.choices?.[0]) first = performance.now();
  }, key);
  if (r.status !== 200) throw new Error(`HTTP ${r.status}: ${r.error}`);
  return ((first ?? performance.now()) - t0) / 1000;
}

async function prefill() {
  const streams = Number(opt('streams', 3));
  const n = Number(opt('prompt-tokens', 1891));
  const window = Number(opt('window', 3));
  const solo = await timeToFirstToken(longPrompt(n, 1));
  const arrivals = Array.from({ length: streams }, () => []);
  const controllers = [];
  const running = Array.from({ length: streams }, (_, i) => {
    const ac = new AbortController();
    controllers.push(ac);
    const maxTokens = Math.min(1900, Number(opt('context', 2048)) - 16);
    const body = JSON.stringify({ prompt: longPrompt(8, 100 + i), max_tokens: maxTokens, temperature: 0, stream: true });
    return new Promise((resolve) => {
      const req = http.request(new URL('/v1/completions', url), {
        method: 'POST', agent: false, signal: ac.signal,
        headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
      }, (res) => {
        res.on('data', () => arrivals[i].push(performance.now()));
        res.on('end', resolve);
        res.on('error', resolve);
      });
      req.on('error', resolve);
      req.end(body);
    });
  });
  const sleep = (s) => new Promise((r) => setTimeout(r, s * 1000));
  await sleep(1);  // every stream past its prompt
  const quietFrom = performance.now();
  await sleep(window);
  const loadFrom = performance.now();
  const loaded = await timeToFirstToken(longPrompt(n, 2));
  const loadTo = performance.now();
  controllers.forEach((c) => c.abort());
  await Promise.all(running);
  const gaps = (from, to) => arrivals.flatMap((a) => a.slice(1).map((t, k) => [a[k], t])
    .filter(([p, t]) => p >= from && t <= to).map(([p, t]) => t - p));
  const quiet = gaps(quietFrom, loadFrom), during = gaps(loadFrom, loadTo);
  const pct = (xs, p) => {
    const v = [...xs].sort((a, b) => a - b);
    return v.length ? +v[Math.min(v.length - 1, Math.floor((p / 100) * v.length))].toFixed(1) : NaN;
  };
  return {
    scenario: 'prefill', streams, prompt_tokens: n,
    itl_unloaded_ms: { p50: pct(quiet, 50), p99: pct(quiet, 99), n: quiet.length },
    itl_during_prefill_ms: { p50: pct(during, 50), p99: pct(during, 99), max: pct(during, 100), n: during.length },
    itl_p99_ratio: +(pct(during, 99) / pct(quiet, 99)).toFixed(2),
    prefill_solo_s: +solo.toFixed(2), prefill_loaded_s: +loaded.toFixed(2),
    prefill_rate_share: +(solo / loaded).toFixed(2),
  };
}

// prefix: the prefix cache. A `shared`-token prefix (a system prompt) with distinct 16-token
//   tails: time to first token of the first request (nothing cached) against the median of the
//   next 3 (the prefix cached); then 8 clients at once each send their own ~250-token prompt,
//   twice: time to first token, median of each round.
async function prefix() {
  const n = Number(opt('shared', 1000));
  const shared = longPrompt(n, 7);
  const withTail = (i) => shared.concat(longPrompt(16, 50 + i));
  const uncached = await timeToFirstToken(withTail(0));
  const cached = [];
  for (let i = 1; i <= 3; ++i) cached.push(await timeToFirstToken(withTail(i)));
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const rounds = [];
  for (let round = 0; round < 2; ++round) {
    rounds.push(median(await Promise.all(Array.from({ length: 8 }, (_, c) => timeToFirstToken(longPrompt(250, 200 + c))))));
  }
  const m = await metrics();
  return {
    scenario: 'prefix', shared_tokens: n,
    ttft_uncached_s: +uncached.toFixed(3), ttft_cached_s: +median(cached).toFixed(3),
    cached_over_uncached: +(median(cached) / uncached).toFixed(3),
    eight_clients_ttft_median_s: { first: +rounds[0].toFixed(3), again: +rounds[1].toFixed(3) },
    cache_hit_tokens: m.hearth_prefix_cache_hit_tokens_total,
  };
}

// turns: a chat re-sending its whole history each turn (`turns` turns, default 4, greedy answers of
//   at most 24 tokens; stories260K has a 512-token context): per turn, the prompt's tokens, those read from the prefix cache, and those the
//   turn added (its prompt minus the previous turn's prompt and answer). Prefilled = prompt -
//   cached should be the new turn, up to the block the history ends in.
async function turns() {
  const n = Number(opt('turns', 4));
  const messages = [{ role: 'system', content: 'You tell short stories.' }];
  const out = [];
  let previous = null;
  for (let t = 0; t < n; ++t) {
    messages.push({ role: 'user', content: `Now tell me about ${topics[t % topics.length]}.` });
    let text = '', usage = null;
    const r = await stream('/v1/chat/completions', {
      messages, max_tokens: 24, temperature: 0, stream: true, stream_options: { include_usage: true },
    }, (ev) => {
      text += ev.choices?.[0]?.delta?.content ?? '';
      if (ev.usage) usage = ev.usage;
    });
    if (r.status !== 200 || !usage) throw new Error(`turn ${t}: HTTP ${r.status} ${r.error ?? ''}`);
    messages.push({ role: 'assistant', content: text });
    const cached = usage.prompt_tokens_details?.cached_tokens ?? 0;
    out.push({
      turn: t + 1, prompt_tokens: usage.prompt_tokens, cached_tokens: cached, prefilled: usage.prompt_tokens - cached,
      new_tokens: previous ? usage.prompt_tokens - previous.prompt_tokens - previous.completion_tokens : usage.prompt_tokens,
    });
    previous = usage;
  }
  return { scenario: 'turns', turns: out };
}

// fair: fair shares between two API keys (the server runs with --api-key key-a --api-key key-b).
//   B's time to first token for a `b-prompt`-token prompt (default 100; cache off, a fresh prompt
//   each time), median of 3: alone, then while A keeps 16 streams in (8 run at --parallel 8, 8
//   wait). Then B opens 16 streams too, and over `window` seconds (after 3 s to settle) each
//   client's tokens per second are counted. Reported: the TTFT ratio (loaded / alone), each
//   client's decode tok/s and their ratio (A / B: 1 at equal weights, the weight ratio with
//   --client-weight), and the fairness preemptions.
async function fair() {
  const bTokens = Number(opt('b-prompt', 100));
  const window = Number(opt('window', 10));
  const streamsEach = Number(opt('streams', 16));
  const sleep = (s) => new Promise((r) => setTimeout(r, s * 1000));
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  apiKey = 'key-a';  // for /metrics
  let salt = 1000;
  const bTtft = () => timeToFirstToken(longPrompt(bTokens, salt++), 'key-b', { cache: false });
  const alone = [];
  for (let i = 0; i < 3; ++i) alone.push(await bTtft());
  // Client A: streams of long answers, re-sent as they end, until stopped.
  const counts = { 'key-a': 0, 'key-b': 0 };
  const ac = new AbortController();
  setMaxListeners(4 * streamsEach, ac.signal);  // every stream listens for the one abort
  const maxTokens = Math.min(400, Number(opt('context', 2048)) - 32);
  const open = (key, i) => (async () => {
    while (!ac.signal.aborted) {
      await stream('/v1/completions', { prompt: longPrompt(8, (key === 'key-a' ? 300 : 600) + i), max_tokens: maxTokens,
        temperature: 0, stream: true, cache: false }, () => ++counts[key], key, ac.signal);
    }
  })();
  const clients = Array.from({ length: streamsEach }, (_, i) => open('key-a', i));
  for (let t = 0; t < 600; ++t) {  // until A fills every slot and its queue holds the rest
    const m = await metrics();
    if (m.hearth_queue_depth >= streamsEach / 2 && m.hearth_running_sequences >= streamsEach / 2) break;
    await sleep(0.1);
  }
  await sleep(1);  // A's prompts in: its streams decode
  const loaded = [];
  for (let i = 0; i < 3; ++i) loaded.push(await bTtft());
  clients.push(...Array.from({ length: streamsEach }, (_, i) => open('key-b', i)));
  await sleep(3);
  const from = { ...counts };
  const t0 = performance.now();
  await sleep(window);
  const seconds = (performance.now() - t0) / 1000;
  const rate = (k) => (counts[k] - from[k]) / seconds;
  const m = await metrics();
  ac.abort();
  await Promise.all(clients);
  return {
    scenario: 'fair', b_prompt_tokens: bTokens,
    b_ttft_alone_s: +median(alone).toFixed(3), b_ttft_while_a_runs_8_s: +median(loaded).toFixed(3),
    b_ttft_ratio: +(median(loaded) / median(alone)).toFixed(2),
    backlogged_tok_s: { a: +rate('key-a').toFixed(1), b: +rate('key-b').toFixed(1) },
    a_over_b: +(rate('key-a') / rate('key-b')).toFixed(2),
    fair_preemptions: m.hearth_fair_preemptions_total,
  };
}

// speculative: one stream at a time, each case sent with speculative decoding off and in each
//   mode of SPEC_MODES (default "ngram"; "ngram,draft" when the server has --draft-model), up to 8
//   drafted tokens, alternating, SPEC_RUNS times (default 5). Reported per case and mode: decode
//   tok/s (the server's timings.predicted_per_second) median off and on, the speed-up (the median
//   of each run's on / off, the two sent back to back: steadier on a noisy machine), drafted and
//   accepted tokens per run and the acceptance rate, and whether every run's tokens were the same
//   both ways (they must be: speculation changes no token). SPEC_MAX_TOKENS (default 256) a run.
//   repeats: greedy, the model's own text falls back on what it said before (stories260K's
//            stories do); quotes: a paragraph given twice in the prompt and asked again;
//            code: a function, then asked for it again with one name changed (an edit);
//            sampled: temperature 0.8 (seeded), the text repeats itself less.
//   A model that copies its context (hearth synth --copying) accepts nearly every draft in each
//   case; one with random weights almost none: run both for the two ends.
async function speculative() {
  const runs = Number(process.env.SPEC_RUNS ?? 5);
  const maxTokens = Number(process.env.SPEC_MAX_TOKENS ?? 256);
  const modes = (process.env.SPEC_MODES ?? 'ngram').split(',');
  // SPEC_PEER_MODE: the server is llama.cpp's, started by scripts/bench-sched --peer with its
  // speculative decoding set to this mode (it is a server setting there): each case is sent
  // `runs` times to its /completion, and drafted and accepted come from its timings.
  const peerMode = process.env.SPEC_PEER_MODE;
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const post = (path, payload) => new Promise((resolve, reject) => {
    const body = JSON.stringify(payload);
    const req = http.request(new URL(path, url), {
      method: 'POST', agent: false,
      headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(text)) : reject(new Error(text))));
    });
    req.on('error', reject);
    req.end(body);
  });
  // One request: decode tok/s, drafted and accepted tokens, and what was generated.
  const generate = async (c, mode) => {
    if (peerMode) {
      const r = await post('/completion', { prompt: c.prompt, n_predict: maxTokens, temperature: c.temperature,
        seed: c.seed ?? 1, cache_prompt: false });
      return { tok_s: r.timings.predicted_per_second, drafted: r.timings.draft_n ?? 0,
        accepted: r.timings.draft_n_accepted ?? 0, output: r.content };
    }
    const r = await post('/v1/generate', { prompt: c.prompt, max_tokens: maxTokens, temperature: c.temperature,
      seed: c.seed ?? 1, cache: false, speculative: mode === 'off' ? { mode } : { mode, max_tokens: 8 } });
    return { tok_s: r.timings.predicted_per_second, drafted: r.usage.speculative?.drafted_tokens ?? 0,
      accepted: r.usage.speculative?.accepted_tokens ?? 0, output: JSON.stringify(r.tokens) };
  };
  const paragraph = 'The old lighthouse keeper climbed the stairs every evening, lit the lamp, and wrote the ' +
    'weather in his book: wind from the west, rain at dusk, three ships seen before dark.';
  const code = [
    'def mean_by_key(rows, key):',
    '    total = {}',
    '    count = {}',
    '    for row in rows:',
    '        k = row[key]',
    '        total[k] = total.get(k, 0) + row["value"]',
    '        count[k] = count.get(k, 0) + 1',
    '    return {k: total[k] / count[k] for k in total}',
    ''].join('\n');
  const cases = {
    repeats: { prompt: 'Once upon a time', temperature: 0 },
    quotes: { prompt: `${paragraph}\n${paragraph}\nRepeat the paragraph once more:\n`, temperature: 0 },
    code: { prompt: `${code}\n# The same function with "total" renamed to "sum":\n${code.split('\n')[0]}\n`, temperature: 0 },
    sampled: { prompt: 'Once upon a time', temperature: 0.8, seed: 7 },
  };
  const out = { scenario: 'speculative', max_tokens: maxTokens, runs, cases: {} };
  if (peerMode) out.peer_mode = peerMode;
  for (const [name, c] of Object.entries(cases)) {
    if (peerMode) {
      const rs = [];
      for (let i = 0; i < runs; ++i) rs.push(await generate(c));
      const drafted = rs.reduce((a, r) => a + r.drafted, 0), accepted = rs.reduce((a, r) => a + r.accepted, 0);
      out.cases[name] = { tok_s: +median(rs.map((r) => r.tok_s)).toFixed(1), drafted_per_run: drafted / runs,
        accepted_per_run: accepted / runs, acceptance: drafted ? +(accepted / drafted).toFixed(3) : 0,
        output: rs[0].output.slice(0, 80) };
      continue;
    }
    const rate = { off: [] };
    const stats = {};
    for (const m of modes) {
      rate[m] = [];
      stats[m] = { drafted: 0, accepted: 0, same: true, ratios: [] };
    }
    for (let i = 0; i < runs; ++i) {
      const off = await generate(c, 'off');
      rate.off.push(off.tok_s);
      for (const m of modes) {
        const on = await generate(c, m);
        rate[m].push(on.tok_s);
        stats[m].ratios.push(on.tok_s / off.tok_s);
        stats[m].drafted += on.drafted;
        stats[m].accepted += on.accepted;
        stats[m].same &&= off.output === on.output;
      }
    }
    const result = { tok_s_off: +median(rate.off).toFixed(1) };
    for (const m of modes) {
      const { drafted, accepted, same, ratios } = stats[m];
      result[m] = {
        tok_s: +median(rate[m]).toFixed(1), speedup: +median(ratios).toFixed(3),
        drafted_per_run: drafted / runs, accepted_per_run: accepted / runs,
        acceptance: drafted ? +(accepted / drafted).toFixed(3) : 0, same_tokens: same,
      };
    }
    out.cases[name] = result;
  }
  return out;
}

const scenarios = { memory, preemption, prefill, prefix, turns, fair, speculative };
if (!scenarios[scenario]) {
  console.error(`unknown scenario ${scenario}: ${Object.keys(scenarios).join(', ')}`);
  process.exit(2);
}
const result = await scenarios[scenario]();
console.log(JSON.stringify(result));
