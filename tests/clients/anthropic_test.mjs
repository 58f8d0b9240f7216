// Anthropic's official SDK (@anthropic-ai/sdk) against a hearth server running tiny-qwen25
// (random weights with Qwen2.5's real template and vocabulary): messages, streaming with the
// SDK's event accumulator, stop sequences, tools with tool_use/tool_result blocks, count_tokens
// and errors, all through the SDK's own request building and response parsing.
//
// Usage: node anthropic_test.mjs http://127.0.0.1:PORT API_KEY
// Exit 0 when every check passes; otherwise 1 with the failed checks on stderr.
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { z } from 'zod';
import { runChecks } from './run_checks.mjs';

const base = process.argv[2]?.replace(/\/+$/, '');
const apiKey = process.argv[3];
if (!base || !apiKey) {
  console.error('usage: node anthropic_test.mjs http://127.0.0.1:PORT API_KEY');
  process.exit(2);
}
// The SDK sends the key as x-api-key; maxRetries 0: a failure must show as a failure.
const client = new Anthropic({ baseURL: base, apiKey, maxRetries: 0, timeout: 120_000 });

const checks = [];
const check = (name, fn) => checks.push({ name, fn });

const hello = { model: 'local', max_tokens: 24, temperature: 0, messages: [{ role: 'user', content: 'Hello there' }] };
const textOf = (message) => message.content.filter((b) => b.type === 'text').map((b) => b.text).join('');

check('messages.create: a text block, max_tokens, usage; count_tokens agrees', async () => {
  const m = await client.messages.create({ ...hello, system: 'Be brief.' });
  assert.equal(m.type, 'message');
  assert.equal(m.role, 'assistant');
  assert.match(m.id, /^msg_/);
  assert.equal(m.stop_reason, 'max_tokens');
  assert.equal(m.stop_sequence, null);
  assert.equal(m.content.length, 1);
  assert.equal(m.content[0].type, 'text');
  assert.equal(m.usage.output_tokens, 24);
  // Anthropic's split: the prompt is the tokens computed plus those read from (or written to) a cache.
  const counted = await client.messages.countTokens({ model: 'local', system: 'Be brief.', messages: hello.messages });
  assert.equal(counted.input_tokens,
    m.usage.input_tokens + m.usage.cache_read_input_tokens + m.usage.cache_creation_input_tokens);
});

check('streaming: the SDK assembles the same message from the event sequence', async () => {
  const whole = await client.messages.create(hello);
  const stream = client.messages.stream(hello);
  const events = [];
  stream.on('streamEvent', (e) => events.push(e.type));
  const final = await stream.finalMessage();
  assert.equal(textOf(final), textOf(whole));
  assert.equal(final.stop_reason, 'max_tokens');
  assert.equal(final.usage.output_tokens, whole.usage.output_tokens);
  // message_delta's counts replace message_start's (the cache's share is known only at the end).
  const promptOf = (u) => u.input_tokens + u.cache_read_input_tokens + u.cache_creation_input_tokens;
  assert.equal(promptOf(final.usage), promptOf(whole.usage));
  assert.equal(events[0], 'message_start');
  assert.equal(events.at(-1), 'message_stop');
  assert.equal(events.at(-2), 'message_delta');
  assert.ok(events.includes('content_block_start') && events.includes('content_block_delta'), events.join(' '));
});

check('stop_sequences: the matched one is reported and the text ends before it', async () => {
  const text = textOf(await client.messages.create(hello));
  // A stop taken from inside the greedy answer: the same request with it stops there.
  const chars = [...text];
  const stop = chars.slice(Math.floor(chars.length / 2), Math.floor(chars.length / 2) + 2).join('');
  const m = await client.messages.create({ ...hello, stop_sequences: [stop] });
  assert.equal(m.stop_reason, 'stop_sequence');
  assert.equal(m.stop_sequence, stop);
  assert.equal(textOf(m), text.slice(0, text.indexOf(stop)));
});

// maxLength counts code points (JSON Schema); zod's .max() counts UTF-16 units, so the check is by hand.
const Weather = z.object({ city: z.string().refine((s) => [...s].length <= 10, 'at most 10 characters'), unit: z.enum(['c', 'f']) });
const weatherTool = {
  name: 'get_weather',
  description: 'Weather now',
  input_schema: {
    type: 'object',
    properties: { city: { type: 'string', maxLength: 10 }, unit: { type: 'string', enum: ['c', 'f'] } },
    required: ['city', 'unit'],
  },
};
const toolRequest = (seed) => ({
  model: 'local', max_tokens: 100, messages: [{ role: 'user', content: 'Weather in Oslo?' }],
  tools: [weatherTool], tool_choice: { type: 'tool', name: 'get_weather', disable_parallel_tool_use: true },
  metadata: { user_id: `seed-${seed}` },
});

check('tools: a forced tool_use block, whole and streamed; its result goes back', async () => {
  const m = await client.messages.create(toolRequest(1));
  assert.equal(m.stop_reason, 'tool_use');
  const uses = m.content.filter((b) => b.type === 'tool_use');
  assert.equal(uses.length, 1);
  assert.equal(uses[0].name, 'get_weather');
  assert.match(uses[0].id, /^toolu_/);
  Weather.parse(uses[0].input);

  const final = await client.messages.stream(toolRequest(1)).finalMessage();
  assert.equal(final.stop_reason, 'tool_use');
  const streamed = final.content.find((b) => b.type === 'tool_use');
  Weather.parse(streamed.input);

  const next = await client.messages.create({
    model: 'local', max_tokens: 8, tools: [weatherTool],
    messages: [
      { role: 'user', content: 'Weather in Oslo?' },
      { role: 'assistant', content: m.content },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: uses[0].id, content: '4 C, rain' },
                                { type: 'text', text: 'Thanks' }] },
    ],
  });
  assert.ok(['end_turn', 'max_tokens', 'tool_use'].includes(next.stop_reason), next.stop_reason);
});

check('errors: Anthropic error shapes through the SDK', async () => {
  await assert.rejects(
    client.messages.create({ ...hello, messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AA==' } }] }] }),
    (err) => err instanceof Anthropic.BadRequestError && err.error?.type === 'error' &&
      err.error.error.type === 'invalid_request_error' && /image/.test(err.error.error.message),
  );
  const wrong = new Anthropic({ baseURL: base, apiKey: 'not-the-key', maxRetries: 0 });
  await assert.rejects(wrong.messages.create(hello), (err) => err instanceof Anthropic.AuthenticationError);
});

await runChecks('anthropic_test', checks);
