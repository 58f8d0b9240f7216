// The official `openai` npm package against a running hearth server: proves a real client's
// request building, response parsing and SSE handling work with hearth's OpenAI-compatible API.
//
// Usage: node openai_test.mjs http://127.0.0.1:PORT
// Exit 0 when every check passes; otherwise 1 with the failed check on stderr.
//
// Expected completion text comes from llama.cpp's reference outputs in the project's shared
// directory (<repo>/../shared, as CMake's HEARTH_SHARED_DIR), never from the server itself.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import OpenAI from 'openai';
import { zodResponseFormat } from 'openai/helpers/zod';
import { z } from 'zod';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { runChecks } from './run_checks.mjs';

const base = process.argv[2]?.replace(/\/+$/, '');
if (!base) {
  console.error('usage: node openai_test.mjs http://127.0.0.1:PORT');
  process.exit(2);
}

const referenceFile = new URL('../../../shared/reference/stories260K-f32.greedy.jsonl', import.meta.url);
const reference = JSON.parse(readFileSync(referenceFile, 'utf8').split('\n')[0]);

// maxRetries 0: a failure must show as a failure, not be hidden by the client's retries.
const client = new OpenAI({ baseURL: base + '/v1', apiKey: 'unused', maxRetries: 0, timeout: 120_000 });

// Checks run in order (the streamed chat check compares with the non-streamed one's answer).
const checks = [];
const check = (name, fn) => checks.push({ name, fn });

const greedyCompletion = { prompt: reference.prompt, max_tokens: 64, temperature: 0 };

check('models.list contains the model', async () => {
  const models = [];
  for await (const model of client.models.list()) models.push(model);
  const model = models.find((m) => m.id === 'stories260K-f32.gguf');
  assert.ok(model, `model ids: ${JSON.stringify(models.map((m) => m.id))}`);
  assert.equal(model.object, 'model');
  // OpenAI: "The Unix timestamp (in seconds) when the model was created."
  assert.ok(Number.isInteger(model.created) && model.created > 0, `created is not a Unix time: ${model.created}`);
});

check('models.retrieve: the served model by its id; another id is a 404 NotFoundError', async () => {
  const list = await client.models.list();
  const id = list.data[0].id;
  const model = await client.models.retrieve(id);
  assert.equal(model.id, id);
  assert.equal(model.object, 'model');
  await assert.rejects(client.models.retrieve('no-such-model'), (err) => {
    assert.ok(err instanceof OpenAI.NotFoundError, `not a NotFoundError: ${err}`);
    assert.equal(err.code, 'model_not_found');
    return true;
  });
});

check('completions: greedy text equals llama.cpp reference', async () => {
  const r = await client.completions.create(greedyCompletion);
  assert.equal(r.object, 'text_completion');
  assert.equal(r.choices.length, 1);
  assert.equal(r.choices[0].text, reference.greedy_text);
  assert.equal(r.choices[0].finish_reason, 'length');
  assert.equal(r.usage.prompt_tokens, reference.prompt_tokens.length);
  assert.equal(r.usage.completion_tokens, 64);
  assert.equal(r.usage.total_tokens, reference.prompt_tokens.length + 64);
});

check('completions streamed: concatenated text equals reference; usage chunk arrives', async () => {
  const stream = await client.completions.create({
    ...greedyCompletion,
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let finish = null;
  let usage = null;
  let chunks = 0;
  for await (const chunk of stream) {
    chunks += 1;
    assert.equal(chunk.object, 'text_completion');
    if (chunk.usage) {
      assert.equal(usage, null, 'more than one usage chunk');
      assert.equal(chunk.choices.length, 0, 'the usage chunk has no choices');
      usage = chunk.usage;
      continue;
    }
    assert.equal(usage, null, 'a text chunk after the usage chunk');
    text += chunk.choices[0].text;
    if (chunk.choices[0].finish_reason) finish = chunk.choices[0].finish_reason;
  }
  assert.ok(chunks > 2, `only ${chunks} chunks: not streamed`);
  assert.equal(text, reference.greedy_text);
  assert.equal(finish, 'length');
  assert.ok(usage, 'no usage chunk');
  assert.equal(usage.prompt_tokens, reference.prompt_tokens.length);
  assert.equal(usage.completion_tokens, 64);
  assert.equal(usage.total_tokens, reference.prompt_tokens.length + 64);
});

const greedyChat = {
  model: 'stories260K-f32.gguf',
  messages: [{ role: 'user', content: reference.prompt }],
  max_tokens: 16,
  temperature: 0,
};
let chatContent = null;

check('chat: assistant message, finish_reason length', async () => {
  const r = await client.chat.completions.create(greedyChat);
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices.length, 1);
  const { message, finish_reason } = r.choices[0];
  assert.equal(message.role, 'assistant');
  assert.equal(typeof message.content, 'string');
  assert.ok(message.content.length > 0, 'empty content');
  assert.equal(finish_reason, 'length');
  assert.equal(r.usage.completion_tokens, 16);
  chatContent = message.content;
});

check('chat streamed: same content as non-streamed, role first, finish_reason length', async () => {
  assert.ok(chatContent !== null, 'the non-streamed chat check did not run');
  const stream = await client.chat.completions.create({ ...greedyChat, stream: true });
  let role = null;
  let content = '';
  let finish = null;
  let chunks = 0;
  for await (const chunk of stream) {
    chunks += 1;
    assert.equal(chunk.object, 'chat.completion.chunk');
    const { delta, finish_reason } = chunk.choices[0];
    if (delta.role) {
      assert.equal(role, null, 'role sent twice');
      role = delta.role;
    }
    if (delta.content) {
      assert.equal(role, 'assistant', 'content before the role');
      content += delta.content;
    }
    if (finish_reason) finish = finish_reason;
  }
  assert.ok(chunks > 2, `only ${chunks} chunks: not streamed`);
  assert.equal(role, 'assistant');
  assert.equal(content, chatContent);
  assert.equal(finish, 'length');
});

// The prompt a multi-message chat builds: the bundled model has no chat template, so hearth
// renders ChatML, and the prompt must be what Python's Jinja2 renders from ChatML's template for
// the same conversation (../shared/templates), tokenized with BOS and special tokens parsed.
// /v1/tokenize counts the reference render's tokens; it is not the code path under test.
check('chat with n: several choices, each what its seed gives alone, streamed the same', async () => {
  const ask = { ...greedyChat, temperature: 1, max_tokens: 12 };
  const r = await client.chat.completions.create({ ...ask, n: 3, seed: 21 });
  assert.equal(r.choices.length, 3);
  let completion = 0;
  for (let i = 0; i < 3; i++) {
    assert.equal(r.choices[i].index, i);
    const alone = await client.chat.completions.create({ ...ask, seed: 21 + i });
    assert.equal(r.choices[i].message.content, alone.choices[0].message.content);
    completion += alone.usage.completion_tokens;
  }
  assert.equal(r.usage.completion_tokens, completion);
  const stream = await client.chat.completions.create({ ...ask, n: 3, seed: 21, stream: true });
  const texts = ['', '', ''];
  for await (const chunk of stream) for (const c of chunk.choices) texts[c.index] += c.delta.content ?? '';
  assert.deepEqual(texts, r.choices.map((c) => c.message.content));
});

check('chat: usage.prompt_tokens of a multi-message chat is the Jinja2 ChatML render\'s', async () => {
  const templates = new URL('../../../shared/templates/', import.meta.url);
  const cases = JSON.parse(readFileSync(new URL('cases.json', templates), 'utf8')).cases;
  const renders = JSON.parse(readFileSync(new URL('chatml.renders.json', templates), 'utf8'));
  const name = 'system-user-assistant-user';
  const conversation = cases.find((c) => c.name === name);
  const render = renders.find((r) => r.case === name)?.output;
  assert.ok(conversation && render, `no case ${name} in ../shared/templates`);
  assert.ok(conversation.vars.messages.length >= 4, 'not a multi-message conversation');
  const tokenized = await fetch(base + '/v1/tokenize', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ content: render, add_special: true, parse_special: true }),
  });
  assert.equal(tokenized.status, 200);
  const expected = (await tokenized.json()).tokens.length;
  const r = await client.chat.completions.create({
    model: 'stories260K-f32.gguf',
    messages: conversation.vars.messages,
    max_tokens: 1,
    temperature: 0,
  });
  assert.equal(r.usage.prompt_tokens, expected);
  assert.equal(r.usage.total_tokens, expected + r.usage.completion_tokens);
});

// Log-probabilities through the SDK's types: each content token's logprob and its alternatives,
// whole and streamed alike; the first token's figures are the log-softmax of llama.cpp's logits
// (../shared/reference: first_logits), computed here.
check('chat logprobs: entries per token, whole and streamed; completions logprobs equal llama.cpp', async () => {
  const request = { ...greedyChat, max_tokens: 6, logprobs: true, top_logprobs: 3 };
  const whole = await client.chat.completions.create(request);
  const content = whole.choices[0].logprobs.content;
  assert.equal(content.length, 6);
  assert.equal(content.map((e) => e.token).join(''), whole.choices[0].message.content);
  for (const e of content) {
    assert.equal(e.top_logprobs.length, 3);
    assert.equal(e.top_logprobs[0].logprob, e.logprob, 'greedy: the chosen token is the likeliest');
    assert.deepEqual(e.bytes, [...Buffer.from(e.token, 'utf8')]);
  }
  const streamed = [];
  for await (const chunk of await client.chat.completions.create({ ...request, stream: true })) {
    for (const e of chunk.choices[0]?.logprobs?.content ?? []) streamed.push(e);
  }
  assert.deepEqual(streamed, content);

  const logits = reference.first_logits;
  const max = Math.max(...logits);
  const logSum = Math.log(logits.reduce((s, l) => s + Math.exp(l - max), 0));
  const expected = logits[reference.greedy_tokens[0]] - max - logSum;
  const r = await client.completions.create({ ...greedyCompletion, max_tokens: 2, logprobs: 1 });
  assert.ok(Math.abs(r.choices[0].logprobs.token_logprobs[0] - expected) < 2e-3,
    `${r.choices[0].logprobs.token_logprobs[0]} vs ${expected}`);
  await assert.rejects(client.chat.completions.create({ ...request, top_logprobs: 21 }),
    (err) => err.status === 400 && err.param === 'top_logprobs');
});

check('invalid request rejects with a 400 APIError naming the field', async () => {
  await assert.rejects(
    client.completions.create({ ...greedyCompletion, temperature: -1 }),
    (err) => {
      assert.ok(err instanceof OpenAI.APIError, `not an APIError: ${err}`);
      assert.equal(err.status, 400);
      assert.ok(err.message.includes('temperature'), `message does not name the field: ${err.message}`);
      assert.equal(err.param, 'temperature');
      return true;
    },
  );
});

// Structured outputs the way apps ask for them: a zod schema through the SDK's helper, the
// parsed object validated by an independent validator (ajv) against the JSON Schema the SDK sent.
const Review = z.object({
  title: z.string().min(1).max(24),
  rating: z.number().int().min(1).max(5),
  verdict: z.enum(['buy', 'skip', 'wait']),
  tags: z.array(z.string().max(8)).min(1).max(3),
  author: z.object({ name: z.string().max(12), age: z.number().int().min(0).max(120).nullable() }),
  published: z.string().date(),
});
const reviewFormat = zodResponseFormat(Review, 'review');
const ajv = new Ajv({ allErrors: true, strict: false });
addFormats(ajv);
const validReview = ajv.compile(reviewFormat.json_schema.schema);
const reviewChat = (seed) => ({
  messages: [{ role: 'user', content: 'Review the story as JSON.' }],
  max_tokens: 400, temperature: 1, seed, response_format: reviewFormat,
});

check('structured output: zod schemas through chat.completions.parse validate with ajv', async () => {
  for (const seed of [1, 2, 3, 4]) {
    const r = await client.chat.completions.parse(reviewChat(seed));
    const { message, finish_reason } = r.choices[0];
    assert.equal(finish_reason, 'stop', message.content);
    assert.ok(message.parsed, `nothing parsed: ${message.content}`);
    assert.ok(validReview(JSON.parse(message.content)), `${message.content}: ${ajv.errorsText(validReview.errors)}`);
    assert.deepEqual(message.parsed, Review.parse(JSON.parse(message.content)));
  }
});

check('structured output: streamed, json_object, and a 400 for an unsupported keyword', async () => {
  let streamed = '';
  for await (const chunk of await client.chat.completions.create({ ...reviewChat(9), stream: true })) {
    streamed += chunk.choices[0]?.delta?.content ?? '';
  }
  assert.ok(validReview(JSON.parse(streamed)), `${streamed}: ${ajv.errorsText(validReview.errors)}`);
  const whole = await client.chat.completions.create(reviewChat(9));
  assert.equal(streamed, whole.choices[0].message.content);

  const object = await client.chat.completions.create({
    messages: [{ role: 'user', content: 'JSON please' }], max_tokens: 400, seed: 5,
    response_format: { type: 'json_object' },
  });
  if (object.choices[0].finish_reason === 'stop') {
    const value = JSON.parse(object.choices[0].message.content);
    assert.ok(value !== null && typeof value === 'object' && !Array.isArray(value), object.choices[0].message.content);
  }

  const schema = { type: 'object', properties: { n: { type: 'number', multipleOf: 3 } }, required: ['n'] };
  await assert.rejects(
    client.chat.completions.create({
      messages: [{ role: 'user', content: 'x' }],
      response_format: { type: 'json_schema', json_schema: { name: 'n', schema } },
    }),
    (err) => err.status === 400 && err.param === 'response_format.json_schema.schema' && /multipleOf/.test(err.message),
  );
});

// The client keeps its connection open between requests (as every HTTP client does): a whole
// answer followed by a streamed one on that connection must both arrive in full. Many rounds,
// because a lifetime bug in the server's connection handling (a race between its I/O threads)
// dropped the connection only now and then.
check('keep-alive: alternating whole and streamed answers on one connection', async () => {
  const request = { ...greedyChat, max_tokens: 4 };
  const expected = (await client.chat.completions.create(request)).choices[0].message.content;
  for (let i = 0; i < 100; ++i) {
    const whole = await client.chat.completions.create(request);
    assert.equal(whole.choices[0].message.content, expected, `round ${i}: whole answer`);
    let streamed = '';
    for await (const chunk of await client.chat.completions.create({ ...request, stream: true })) {
      streamed += chunk.choices[0]?.delta?.content ?? '';
    }
    assert.equal(streamed, expected, `round ${i}: streamed answer`);
  }
});

await runChecks('openai_test', checks);
