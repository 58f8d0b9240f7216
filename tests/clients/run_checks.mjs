// Runs a client script's checks in order. Every check runs, so one run shows every failure; the
// process exits 1 if any failed (naming them), else prints a summary.
export async function runChecks(script, checks) {
  const failed = [];
  for (const { name, fn } of checks) {
    try {
      await fn();
      console.log(`ok   ${name}`);
    } catch (err) {
      failed.push(name);
      console.error(`FAIL ${name}\n${err?.stack ?? err}`);
      // Network failures hide their reason (e.g. "other side closed") a cause or two down.
      for (let c = err?.cause; c; c = c.cause) console.error(`caused by: ${c?.stack ?? c}`);
    }
  }
  if (failed.length > 0) {
    console.error(`${script}: ${failed.length} of ${checks.length} checks failed: ${failed.join('; ')}`);
    process.exit(1);
  }
  console.log(`${script}: all ${checks.length} checks passed`);
}
