// The Responses API (POST /v1/responses) through two real clients, against a hearth server running
// tiny-qwen25 (random weights with Qwen2.5's real template and vocabulary): the official `openai`
// package (responses.create / stream / parse, function calls, text.format) and the Vercel AI SDK,
// whose default provider model openai('m') calls /v1/responses.
//
// Usage: node responses_test.mjs http://127.0.0.1:PORT
// Exit 0 when every check passes; otherwise 1 with the failed checks on stderr.
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { zodTextFormat } from 'openai/helpers/zod';
import { createOpenAI } from '@ai-sdk/openai';
import { generateText, streamText, tool, jsonSchema } from 'ai';
import { z } from 'zod';
import { runChecks } from './run_checks.mjs';

const base = process.argv[2]?.replace(/\/+$/, '');
if (!base) {
  console.error('usage: node responses_test.mjs http://127.0.0.1:PORT');
  process.exit(2);
}
const client = new OpenAI({ baseURL: base + '/v1', apiKey: 'unused', maxRetries: 0, timeout: 120_000 });

const checks = [];
const check = (name, fn) => checks.push({ name, fn });

const hello = { model: 'local', input: 'Hello there', instructions: 'Be brief.', max_output_tokens: 12, temperature: 0 };

check('openai responses.create: a message item, incomplete at max_output_tokens, usage', async () => {
  const r = await client.responses.create(hello);
  assert.equal(r.object, 'response');
  assert.match(r.id, /^resp_/);
  assert.equal(r.status, 'incomplete');
  assert.equal(r.incomplete_details.reason, 'max_output_tokens');
  assert.equal(r.output.length, 1);
  assert.equal(r.output[0].type, 'message');
  assert.equal(r.output[0].content[0].type, 'output_text');
  assert.equal(r.output_text, r.output[0].content[0].text);  // the SDK's convenience field
  assert.equal(r.usage.output_tokens, 12);
  assert.equal(r.instructions, 'Be brief.');
});

check('openai responses.stream: the typed events add up to the same text', async () => {
  const whole = await client.responses.create(hello);
  const types = [];
  let deltas = '';
  const stream = client.responses.stream(hello);
  stream.on('event', (e) => types.push(e.type));
  stream.on('response.output_text.delta', (e) => { deltas += e.delta; });
  const final = await stream.finalResponse();
  assert.equal(deltas, whole.output_text);
  assert.equal(final.output.find((o) => o.type === 'message').content[0].text, whole.output_text);
  assert.deepEqual(types.slice(0, 2), ['response.created', 'response.in_progress']);
  assert.equal(types.at(-1), 'response.incomplete');
  for (const t of ['response.output_item.added', 'response.content_part.added', 'response.output_text.done',
    'response.output_item.done']) {
    assert.ok(types.includes(t), `no ${t} in ${types.join(' ')}`);
  }
});

// maxLength counts code points (JSON Schema); zod's .max() counts UTF-16 units, so the check is by hand.
const Weather = z.object({ city: z.string().refine((s) => [...s].length <= 10, 'at most 10 characters'), unit: z.enum(['c', 'f']) });
const weatherTool = {
  type: 'function', name: 'get_weather', description: 'Weather now', strict: true,
  parameters: {
    type: 'object', additionalProperties: false, required: ['city', 'unit'],
    properties: { city: { type: 'string', maxLength: 10 }, unit: { type: 'string', enum: ['c', 'f'] } },
  },
};

check('openai responses: a required function_call item, and its output goes back as input', async () => {
  const r = await client.responses.create({
    model: 'local', input: 'Weather in Oslo?', tools: [weatherTool], tool_choice: 'required', parallel_tool_calls: false,
  });
  assert.equal(r.status, 'completed');
  const calls = r.output.filter((o) => o.type === 'function_call');
  assert.equal(calls.length, 1);
  assert.equal(calls[0].name, 'get_weather');
  assert.match(calls[0].call_id, /^call_/);
  Weather.parse(JSON.parse(calls[0].arguments));

  const next = await client.responses.create({
    model: 'local', tools: [weatherTool], max_output_tokens: 8,
    input: [{ role: 'user', content: 'Weather in Oslo?' }, ...r.output,
      { type: 'function_call_output', call_id: calls[0].call_id, output: '4 C, rain' }],
  });
  assert.ok(['completed', 'incomplete'].includes(next.status));
});

check('openai responses.parse: text.format from a zod schema; previous_response_id is a 400', async () => {
  // ASCII only: JSON Schema's maxLength counts code points, zod's .max() UTF-16 units.
  const Pet = z.object({ name: z.string().regex(/^[a-z]{1,8}$/), legs: z.number().int().min(0).max(8) });
  const r = await client.responses.parse({
    model: 'local', input: 'A pet as JSON', max_output_tokens: 200, text: { format: zodTextFormat(Pet, 'pet') },
  });
  assert.equal(r.status, 'completed', r.output_text);
  assert.deepEqual(r.output_parsed, Pet.parse(JSON.parse(r.output_text)));
  await assert.rejects(
    client.responses.create({ model: 'local', input: 'x', previous_response_id: 'resp_1' }),
    (err) => err instanceof OpenAI.BadRequestError && err.param === 'previous_response_id',
  );
});

// The Vercel AI SDK: its default openai(model) is the Responses API.
const provider = createOpenAI({ baseURL: base + '/v1', apiKey: 'unused' });

check('Vercel AI SDK: generateText and streamText with openai(model)', async () => {
  const r = await generateText({ model: provider('local'), prompt: 'Hello there', maxOutputTokens: 12, temperature: 0 });
  assert.equal(typeof r.text, 'string');
  assert.ok(r.text.length > 0);
  assert.equal(r.finishReason, 'length');
  assert.equal(r.usage.outputTokens, 12);
  const s = streamText({ model: provider('local'), prompt: 'Hello there', maxOutputTokens: 12, temperature: 0 });
  let streamed = '';
  for await (const part of s.textStream) streamed += part;
  assert.equal(streamed, r.text);
});

check('Vercel AI SDK: a required tool call', async () => {
  const r = await generateText({
    model: provider('local'), prompt: 'Weather in Oslo?', toolChoice: 'required',
    tools: { get_weather: tool({ description: 'Weather now', inputSchema: jsonSchema(weatherTool.parameters) }) },
  });
  assert.equal(r.toolCalls.length >= 1, true, JSON.stringify(r.content));
  assert.equal(r.toolCalls[0].toolName, 'get_weather');
  Weather.parse(r.toolCalls[0].input);
});

await runChecks('responses_test', checks);
