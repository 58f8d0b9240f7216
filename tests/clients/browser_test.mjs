// Headless Chromium (through playwright-core) drives hearth's page at / as a person would: type a
// prompt, Send, watch tokens stream in over the WebSocket, Stop a long generation, and check the
// server freed the sequence; move the temperature slider while a greedy generation streams and
// check the text changes from the acknowledged token on, and not before. Also checks the page makes no request off the server's origin.
// With --api-key KEY (a server started with that key): the page says when the key is missing
// or refused (not "cannot connect"), and a key typed while the page is open is used at once.
//
// Usage: node browser_test.mjs http://127.0.0.1:PORT [--api-key KEY]
// Exit 0 when every check passes; otherwise 1 with the failed check on stderr.
// CHROMIUM may name the browser binary (default /usr/bin/chromium, Debian's package); no
// browser is downloaded. The expected greedy text is llama.cpp's, from <repo>/../shared.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const base = process.argv[2]?.replace(/\/+$/, '');
const apiKey = process.argv[3] === '--api-key' ? process.argv[4] : undefined;
if (!base || (process.argv.length > 3 && !apiKey)) {
  console.error('usage: node browser_test.mjs http://127.0.0.1:PORT [--api-key KEY]');
  process.exit(2);
}
const origin = new URL(base).origin;
const referenceFile = new URL('../../../shared/reference/stories260K-f32.greedy.jsonl', import.meta.url);
const reference = JSON.parse(readFileSync(referenceFile, 'utf8').split('\n')[0]);

// Generous: the machine is shared and slow; nothing here should take more than a few seconds.
const timeout = 60_000;
// The page's final status: "<n> tokens, <x> tok/s generating, <y> tok/s prompt — <reason>".
const finalStatus = /^(\d+) tokens, [\d.]+ tok\/s generating, [\d.]+ tok\/s prompt — (\w+)$/;
// While streaming: "<n> tokens, <x> tok/s".
const streamingStatus = /^\d+ tokens, [\d.]+ tok\/s$/;

// Chromium's background services (updates, sync, QUIC probes) would try to reach the internet,
// which this machine cannot; they are turned off so only the page's own traffic happens.
const args = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

async function metrics() {
  const r = await fetch(base + '/metrics');
  assert.equal(r.status, 200);
  const text = await r.text();
  const gauge = (name) => {
    const m = text.match(new RegExp(`^${name} (\\d+)$`, 'm'));
    assert.ok(m, `/metrics has no ${name}`);
    return Number(m[1]);
  };
  return { running: gauge('hearth_running_sequences'), kvUsed: gauge('hearth_kv_blocks_used') };
}

// Fills the form as a person would: the prompt typed key by key, the numbers replaced.
async function fillForm(page, { prompt, maxTokens, temperature }) {
  if (prompt !== undefined) {
    await page.fill('#prompt', '');
    await page.locator('#prompt').pressSequentially(prompt);
  }
  await page.fill('#max_tokens', String(maxTokens));
  // A slider cannot be typed into: set it as a drag would leave it.
  await page.$eval('#temperature', (el, v) => {
    el.value = v;
    el.dispatchEvent(new Event('input', { bubbles: true }));
    el.dispatchEvent(new Event('change', { bubbles: true }));
  }, String(temperature));
}

// Waits until the page's status shows a finished generation; returns [count, reason].
async function waitForFinish(page) {
  await page.waitForFunction(
    (re) => new RegExp(re).test(document.getElementById('status').textContent),
    finalStatus.source, { timeout },
  );
  const status = await page.textContent('#status');
  const [, count, reason] = status.match(finalStatus);
  return [Number(count), reason];
}

// Greedy, so the page must show exactly llama.cpp's text after the prompt.
async function streamsTokens(page) {
  await fillForm(page, { prompt: reference.prompt, maxTokens: 64, temperature: 0 });
  // Record every change of #output and #status as it happens (a MutationObserver callback runs
  // after each WebSocket message's handler), so growth is observed however fast the model is.
  await page.evaluate(() => {
    const output = document.getElementById('output');
    const status = document.getElementById('status');
    window.observations = [];
    new MutationObserver(() => {
      window.observations.push({ length: output.textContent.length, status: status.textContent });
    }).observe(document.body, { childList: true, subtree: true, characterData: true });
  });
  await page.click('#send');
  const [count, reason] = await waitForFinish(page);
  assert.equal(reason, 'length');
  assert.equal(count, 64);
  assert.equal(await page.textContent('#output'), reference.prompt + reference.greedy_text);

  const observations = await page.evaluate(() => window.observations);
  const lengths = [...new Set(observations.map((o) => o.length))];
  assert.ok(lengths.length >= 10, `output changed only ${lengths.length} times: ${JSON.stringify(lengths)}`);
  for (let i = 1; i < lengths.length; ++i) {
    assert.ok(lengths[i] > lengths[i - 1], `output shrank while streaming: ${JSON.stringify(lengths)}`);
  }
  const midStream = observations.filter((o) => streamingStatus.test(o.status));
  assert.ok(midStream.length >= 10, `status showed tok/s only ${midStream.length} times while streaming`);
  assert.equal(await page.isDisabled('#send'), false, 'Send still disabled');
  assert.equal(await page.isDisabled('#stop'), true, 'Stop still enabled');
  console.log(`ok   tokens stream in: ${lengths.length} growth steps, greedy text equals llama.cpp's`);
}

async function stopEndsGeneration(page) {
  // The longest generation that fits stories260K's 512-token context with this prompt. At about
  // a thousand tokens a second it runs a few hundred milliseconds: Stop is clicked as soon as
  // the first token shows, so the cancel must arrive while the server is still generating.
  const maxTokens = 500;
  await fillForm(page, { maxTokens, temperature: 0.8 });
  await page.click('#send');
  await page.waitForFunction(() => document.getElementById('output').childNodes.length > 1, null, { timeout });
  // Stop is enabled until the generation ends: if the click cannot happen, say why.
  await page.click('#stop', { timeout: 10_000 }).catch(async (e) => {
    throw new Error(`cannot click Stop; status '${await page.textContent('#status')}': ${e.message}`);
  });
  const [count, reason] = await waitForFinish(page);
  assert.equal(reason, 'cancelled', `the generation ended with '${reason}' after ${count} tokens, not by Stop`);
  assert.ok(count < maxTokens, `${count} tokens`);
  assert.equal(await page.isDisabled('#send'), false, 'Send still disabled after Stop');
  assert.equal(await page.isDisabled('#stop'), true, 'Stop still enabled after the generation ended');

  // The scheduler publishes its gauges at the end of the step that sent the last message, a
  // moment after the page hears it: poll until then, and fail if they never reach 0.
  const deadline = Date.now() + timeout;
  let m = await metrics();
  while ((m.running !== 0 || m.kvUsed !== 0) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    m = await metrics();
  }
  assert.deepEqual(m, { running: 0, kvUsed: 0 }, 'the server did not free the cancelled sequence');
  console.log(`ok   Stop cancels: ${count} of ${maxTokens} tokens, sequence and KV blocks freed`);
}

// A greedy generation streams; the slider moves to its end (the End key) as soon as the first
// token shows. The page sends an update, and on its acknowledgement names the token from which
// the new temperature holds. The text before that point is the greedy text (the server's own
// greedy run of the same prompt: tokens do not depend on what else runs); after it, at
// temperature 2 over 500 tokens, it is not.
async function sliderSteersStream(page) {
  const maxTokens = 500;  // as long as the context allows, as in stopEndsGeneration
  const r = await fetch(base + '/v1/generate', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ prompt: reference.prompt, max_tokens: maxTokens, temperature: 0 }),
  });
  assert.equal(r.status, 200);
  const greedy = reference.prompt + (await r.json()).text;

  // The slider must move while the server still generates; on a starved browser the whole
  // generation can be out first (the page then says the change was not made): tried again.
  for (let attempt = 1; ; ++attempt) {
    await fillForm(page, { prompt: attempt === 1 ? reference.prompt : undefined, maxTokens, temperature: 0 });
    assert.equal(await page.textContent('#temperature_value'), '0.00');
    // The output's length when the page shows the change (the acknowledgement's handler).
    await page.evaluate(() => {
      const steer = document.getElementById('steer');
      const output = document.getElementById('output');
      window.steeredAt = null;
      new MutationObserver(() => {
        if (window.steeredAt === null && steer.textContent.startsWith('temperature')) window.steeredAt = output.textContent.length;
      }).observe(steer, { childList: true, subtree: true, characterData: true });
    });
    await page.click('#send');
    await page.waitForFunction(() => document.getElementById('output').childNodes.length > 1, null, { timeout });
    await page.focus('#temperature');
    await page.keyboard.press('End');
    assert.equal(await page.textContent('#temperature_value'), '2.00');
    const [count, reason] = await waitForFinish(page);
    assert.equal(reason, 'length');
    assert.equal(count, maxTokens);
    // The answer may follow "done" by a moment.
    await page.waitForFunction(() => document.getElementById('steer').textContent !== '', null, { timeout });
    const steer = await page.textContent('#steer');
    if (steer.startsWith('not changed: no generation') && attempt < 3) {
      console.log(`note the generation ended before the slider moved (attempt ${attempt}); again`);
      continue;
    }
    const m = steer.match(/^temperature 2\.00 from token (\d+)$/);
    assert.ok(m, `the page did not show the change: '${steer}'`);
    const from = Number(m[1]);
    assert.ok(from > 1 && from < maxTokens, `changed from token ${from}`);
    const output = await page.textContent('#output');
    const at = await page.evaluate(() => window.steeredAt);
    assert.ok(at > reference.prompt.length, `the change showed after ${at} characters`);
    assert.equal(output.slice(0, at), greedy.slice(0, at), 'the text before the change is not the greedy text');
    assert.notEqual(output, greedy, 'the text after the change is still the greedy text');
    console.log(`ok   the temperature slider steers a running stream: 2.00 from token ${from} of ${maxTokens}`);
    return;
  }
}

// The "done" message may carry text the server held back (an unfinished UTF-8 character cut off
// by max_tokens becomes U+FFFD). stories260K cannot be made to produce that on demand, so this
// page talks to a stand-in WebSocket that answers as proto/ws_api.h describes.
async function showsHeldBackText(context) {
  const page = await context.newPage();
  try {
    await page.routeWebSocket(`${origin.replace(/^http/, 'ws')}/v1/ws`, (ws) => {
      ws.onMessage((data) => {
        const { id } = JSON.parse(data);
        ws.send(JSON.stringify({ type: 'token', id, text: ' Tom', token_id: 1 }));
        ws.send(JSON.stringify({
          type: 'done', id, text: ' \uFFFD', finish_reason: 'length',
          usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 },
          timings: { prompt_per_second: 1, predicted_per_second: 1 },
        }));
      });
    });
    await page.goto(base + '/');
    await fillForm(page, { prompt: 'Hi', maxTokens: 2, temperature: 0 });
    await page.click('#send');
    assert.deepEqual(await waitForFinish(page), [2, 'length']);
    assert.equal(await page.textContent('#output'), 'Hi Tom \uFFFD');
    console.log('ok   text held back to "done" is shown');
  } finally {
    await page.close();
  }
}

async function waitForStatus(page, text) {
  await page.waitForFunction((t) => document.getElementById('status').textContent === t, text, { timeout })
    .catch(async () => {
      throw new Error(`status is '${await page.textContent('#status')}', expected '${text}'`);
    });
}

// The server wants `key`: without it, or with a wrong one, the page says so; typed while the
// page is open, the right key works, and a key changed after connecting replaces the socket's.
async function namesRefusedKeys(page, key) {
  await page.goto(base + '/');
  await fillForm(page, { prompt: 'Once upon a time', maxTokens: 4, temperature: 0 });
  await page.click('#send');
  await waitForStatus(page, 'the server needs an API key: enter it in the API key field');
  await page.fill('#key', 'not-' + key);
  await page.click('#send');
  await waitForStatus(page, 'the server refused the API key');
  console.log('ok   a missing or refused key is named as such');

  await page.fill('#key', key);
  await page.click('#send');
  assert.deepEqual(await waitForFinish(page), [4, 'length']);
  // Connected with the right key: a wrong one typed now must not ride on the open socket.
  await page.fill('#key', 'not-' + key);
  await page.click('#send');
  await waitForStatus(page, 'the server refused the API key');
  await page.fill('#key', key);
  await page.click('#send');
  assert.deepEqual(await waitForFinish(page), [4, 'length']);
  console.log('ok   a key typed while the page is open is used at once, also after connecting');
}

const userDataDir = mkdtempSync(join(tmpdir(), 'hearth-chromium-'));
let context;
try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args,
    timeout,
  });
  context.setDefaultTimeout(timeout);
  const requests = [];
  const sockets = [];
  const pageErrors = [];
  context.on('request', (r) => requests.push(r.url()));
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('websocket', (ws) => sockets.push(ws.url()));
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('console', (m) => {
    // Every console error counts (hearth answers the browser's /favicon.ico request with 204),
    // except Chromium's note on each key refused on purpose.
    const refused = apiKey && m.text().includes('status of 401') && m.location().url === base + '/v1/models';
    if (m.type() === 'error' && !refused) pageErrors.push(`${m.text()} (${m.location().url})`);
  });

  if (apiKey) {
    await namesRefusedKeys(page, apiKey);
  } else {
    const response = await page.goto(base + '/');
    assert.equal(response.status(), 200);
    await streamsTokens(page);
    await stopEndsGeneration(page);
    await sliderSteersStream(page);
    await showsHeldBackText(context);
  }

  assert.deepEqual(pageErrors, [], 'errors in the page');
  assert.ok(requests.includes(base + '/'), `the page itself was not seen: ${JSON.stringify(requests)}`);
  const offOrigin = requests.filter((u) => new URL(u).origin !== origin);
  assert.deepEqual(offOrigin, [], 'requests off the server origin');
  // One WebSocket, to the server; with keys, one per key change that was accepted.
  const socketUrl = `ws://${new URL(base).host}/v1/ws`;
  assert.deepEqual(sockets, Array(apiKey ? 2 : 1).fill(socketUrl), 'WebSockets the page opened');
  console.log(`ok   no external requests: ${requests.length} requests and ${sockets.length} WebSocket(s), all to ${origin}`);
  console.log('browser_test: all checks passed');
} catch (err) {
  console.error(`FAIL ${err?.stack ?? err}`);
  process.exitCode = 1;
} finally {
  await context?.close().catch(() => {});
  rmSync(userDataDir, { recursive: true, force: true });
}
