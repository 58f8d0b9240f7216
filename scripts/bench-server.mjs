#!/usr/bin/env node
// Load test for `hearth serve` (Node.js standard library only): N concurrent clients each stream
// one /v1/completions request (a distinct ~100-word prompt, max_tokens tokens, temperature 0),
// then the aggregate generated tokens/s, time to first token and inter-token latency percentiles
// are printed. The method of peer-bench.md's llama-server figures.
//
//   node scripts/bench-server.mjs --url http://127.0.0.1:8080 [--clients 8] [--tokens 64] [--rounds 1] [--json]
import http from 'node:http';

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const url = new URL(opt('url', 'http://127.0.0.1:8080'));
const clients = Number(opt('clients', 8));
const maxTokens = Number(opt('tokens', 64));
const rounds = Number(opt('rounds', 1));
const json = args.includes('--json');

const words = ('the a little girl boy dog cat bird tree park river sun moon star happy sad big small red blue green ' +
  'yellow house garden flower friend mother father sister brother ball cake apple cookie toy box boat car train ' +
  'forest hill road rain snow wind morning night day played jumped ran walked smiled laughed cried found lost ' +
  'saw wanted liked loved helped shared ate drank slept sang danced looked went came made gave took said asked').split(' ');

// A distinct, deterministic prompt of about 100 words for client i.
function prompt(i) {
  let state = (i + 1) * 2654435761 >>> 0;
  const next = () => (state = (state * 1664525 + 1013904223) >>> 0);
  const out = [`Story ${i + 1}:`];
  for (let w = 0; w < 100; ++w) out.push(words[next() % words.length]);
  return out.join(' ') + '.';
}

// One streamed completion; resolves with the arrival times of its chunks.
function request(i, t0) {
  const body = JSON.stringify({ prompt: prompt(i), max_tokens: maxTokens, temperature: 0, stream: true });
  return new Promise((resolve, reject) => {
    const times = [];
    let tokens = 0;
    let buffer = '';
    const req = http.request(url, {
      method: 'POST', path: '/v1/completions', agent: false,
      headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
    }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`HTTP ${res.statusCode}`));
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        buffer += chunk;
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const event = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (!event.startsWith('data: ') || event === 'data: [DONE]') continue;
          const c = JSON.parse(event.slice(6));
          if (c.choices?.[0]?.text) times.push(performance.now() - t0);
          if (c.usage) tokens = c.usage.completion_tokens;
        }
      });
      res.on('end', () => resolve({ times, tokens }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

const pct = (xs, p) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

for (let r = 0; r < rounds; ++r) {
  const t0 = performance.now();
  const results = await Promise.all(Array.from({ length: clients }, (_, i) => request(i + r * clients, t0)));
  const wall = (performance.now() - t0) / 1000;
  const chunks = results.reduce((n, x) => n + x.times.length, 0);
  const ttft = results.map((x) => x.times[0] / 1000);
  const itl = results.flatMap((x) => x.times.slice(1).map((t, k) => (t - x.times[k]) / 1000));
  const summary = {
    clients, max_tokens: maxTokens, generated: chunks, wall_s: +wall.toFixed(3),
    aggregate_tok_s: +(chunks / wall).toFixed(2),
    ttft_p50_s: +pct(ttft, 50).toFixed(3), ttft_p99_s: +pct(ttft, 99).toFixed(3),
    itl_p50_ms: +(pct(itl, 50) * 1000).toFixed(1), itl_p99_ms: +(pct(itl, 99) * 1000).toFixed(1),
  };
  if (json) {
    console.log(JSON.stringify(summary));
  } else {
    console.log(`${clients} clients x ${maxTokens} tokens: ${summary.aggregate_tok_s} tok/s aggregate in ${summary.wall_s} s; ` +
      `TTFT p50 ${summary.ttft_p50_s} s, p99 ${summary.ttft_p99_s} s; inter-token p50 ${summary.itl_p50_ms} ms, p99 ${summary.itl_p99_ms} ms`);
  }
}
