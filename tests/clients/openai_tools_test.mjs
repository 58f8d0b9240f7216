// Tool calling with the official `openai` npm package, against a hearth server running
// tiny-qwen25 (random weights with Qwen2.5's real chat template and vocabulary): the tools reach
// the model through the template's own listing, the calls come back in Hermes's <tool_call>
// markup, and the SDK's parsing helpers read them.
//
// Usage: node openai_tools_test.mjs http://127.0.0.1:PORT
// Exit 0 when every check passes; otherwise 1 with the failed checks on stderr.
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { zodFunction } from 'openai/helpers/zod';
import { z } from 'zod';
import { runChecks } from './run_checks.mjs';

const base = process.argv[2]?.replace(/\/+$/, '');
if (!base) {
  console.error('usage: node openai_tools_test.mjs http://127.0.0.1:PORT');
  process.exit(2);
}
// maxRetries 0: a failure must show as a failure, not be hidden by the client's retries.
const client = new OpenAI({ baseURL: base + '/v1', apiKey: 'unused', maxRetries: 0, timeout: 120_000 });

const checks = [];
const check = (name, fn) => checks.push({ name, fn });

// zod-defined functions (strict, as zodFunction makes them) offered with tool_choice "required"
// or by name: the grammar makes every call well-formed, whatever the weights.
// ASCII only: JSON Schema's maxLength counts code points, zod's .max() UTF-16 units.
const Weather = z.object({ city: z.string().regex(/^[a-z ]{1,10}$/), unit: z.enum(['c', 'f']) });
const Clock = z.object({ zone: z.number().int().min(-12).max(14) });
const tools = [zodFunction({ name: 'get_weather', parameters: Weather }), zodFunction({ name: 'get_time', parameters: Clock })];
const schemas = { get_weather: Weather, get_time: Clock };
const toolChat = (seed, tool_choice = 'required') => ({
  messages: [{ role: 'user', content: 'Weather in Oslo?' }],
  tools, tool_choice, parallel_tool_calls: false, seed,
});

check('a required call parses with its zod schema, whole and streamed alike', async () => {
  for (const seed of [1, 2, 3]) {
    const r = await client.chat.completions.parse(toolChat(seed));
    const { message, finish_reason } = r.choices[0];
    assert.equal(finish_reason, 'tool_calls', JSON.stringify(message));
    assert.equal(message.content, null);
    assert.equal(message.tool_calls.length, 1);
    const call = message.tool_calls[0];
    assert.equal(call.type, 'function');
    assert.match(call.id, /^call_/);
    assert.ok(call.function.name in schemas, call.function.name);
    assert.deepEqual(call.function.parsed_arguments, schemas[call.function.name].parse(JSON.parse(call.function.arguments)));

    // The SDK's stream helper assembles the tool_calls deltas into the same call.
    const final = await client.chat.completions.stream(toolChat(seed)).finalChatCompletion();
    assert.equal(final.choices[0].finish_reason, 'tool_calls');
    const streamed = final.choices[0].message.tool_calls[0];
    assert.equal(streamed.function.name, call.function.name);
    assert.equal(streamed.function.arguments, call.function.arguments);
  }
});

check('a named tool_choice calls that function', async () => {
  for (const seed of [4, 5]) {
    const r = await client.chat.completions.parse(toolChat(seed, { type: 'function', function: { name: 'get_time' } }));
    const call = r.choices[0].message.tool_calls[0];
    assert.equal(call.function.name, 'get_time');
    assert.deepEqual(call.function.parsed_arguments, Clock.parse(JSON.parse(call.function.arguments)));
  }
});

check('the call and its result go back in the history; a bad tool_choice is a 400', async () => {
  const first = await client.chat.completions.create(toolChat(6));
  const call = first.choices[0].message.tool_calls[0];
  const next = await client.chat.completions.create({
    messages: [
      { role: 'user', content: 'Weather in Oslo?' },
      first.choices[0].message,
      { role: 'tool', tool_call_id: call.id, content: '4 C' },
    ],
    tools, max_tokens: 8, seed: 6,
  });
  assert.ok(['stop', 'length', 'tool_calls'].includes(next.choices[0].finish_reason));

  await assert.rejects(
    client.chat.completions.create(toolChat(1, { type: 'function', function: { name: 'nope' } })),
    (err) => err instanceof OpenAI.BadRequestError && err.param === 'tool_choice' && /not one of the tools/.test(err.message),
  );
});

await runChecks('openai_tools_test', checks);
