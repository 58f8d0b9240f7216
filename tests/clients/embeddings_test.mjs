// Embeddings with the official `openai` npm package against a hearth server running the tiny
// BERT fixture: the SDK's default request (base64, which it decodes itself) and the float form
// give the same vectors, which match llama.cpp's (../shared/reference/embeddings); a list of
// inputs keeps its order; errors reach the SDK as APIError with the server's status and message.
//
// Usage: node embeddings_test.mjs http://127.0.0.1:PORT REFERENCE.jsonl
// Exit 0 when every check passes; otherwise 1 with the failed checks on stderr.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import OpenAI from 'openai';
import { runChecks } from './run_checks.mjs';

const base = process.argv[2]?.replace(/\/+$/, '');
const referenceFile = process.argv[3];
if (!base || !referenceFile) {
  console.error('usage: node embeddings_test.mjs http://127.0.0.1:PORT REFERENCE.jsonl');
  process.exit(2);
}
const client = new OpenAI({ baseURL: base + '/v1', apiKey: 'unused', maxRetries: 0, timeout: 60_000 });
const refs = readFileSync(referenceFile, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));

const cosine = (a, b) => {
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return dot / Math.sqrt(na * nb);
};

const checks = [];
const check = (name, fn) => checks.push({ name, fn });

check('reference file holds the four inputs', () => assert.equal(refs.length, 4));

check('default request (base64, decoded by the SDK) matches llama.cpp', async () => {
  const res = await client.embeddings.create({ model: 'tiny-bert', input: refs.map((r) => r.input) });
  assert.equal(res.object, 'list');
  assert.equal(res.data.length, refs.length);
  assert.equal(res.usage.prompt_tokens, refs.reduce((n, r) => n + r.tokens.length, 0));
  res.data.forEach((d, i) => {
    assert.equal(d.index, i);
    assert.equal(d.embedding.length, 256);
    assert.ok(cosine(d.embedding, refs[i].embedding) >= 0.999, `input ${i}: cosine ${cosine(d.embedding, refs[i].embedding)}`);
  });
});

check('float and base64 give the same numbers', async () => {
  const f = await client.embeddings.create({ model: 'm', input: refs[2].input, encoding_format: 'float' });
  const b = await client.embeddings.create({ model: 'm', input: refs[2].input });
  assert.deepEqual(Array.from(b.data[0].embedding), Array.from(f.data[0].embedding));
});

check('dimensions shortens and renormalizes', async () => {
  const res = await client.embeddings.create({ model: 'm', input: refs[0].input, dimensions: 64 });
  const v = res.data[0].embedding;
  assert.equal(v.length, 64);
  assert.ok(Math.abs(Math.hypot(...v) - 1) < 1e-5);
});

check('a bad request is an APIError naming the problem', async () => {
  await assert.rejects(client.embeddings.create({ model: 'm', input: '' }), (err) => {
    assert.ok(err instanceof OpenAI.APIError, String(err));
    assert.equal(err.status, 400);
    assert.match(err.message, /input is an empty string/);
    return true;
  });
});

check('the encoder refuses chat with a 400', async () => {
  await assert.rejects(client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }), (err) => {
    assert.equal(err.status, 400);
    assert.match(err.message, /embedding model/);
    return true;
  });
});

await runChecks('embeddings_test.mjs', checks);
