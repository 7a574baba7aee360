// The Node SDK (unleash-client, pinned in package-lock.json) evaluating flags for given contexts, for the
// tests that check that Node and Python SDKs both follow the planner's segments.
// stdin: {"url": ".../api", "token": "<client token>", "checks": [{"flag": "...", "context": {...}}, ...]}
// stdout: [true, false, ...], one answer per check, once the SDK has synchronised with the server.
import { initialize } from 'unleash-client';

const input = JSON.parse(await new Promise((resolve) => {
  let text = '';
  process.stdin.on('data', (chunk) => { text += chunk; });
  process.stdin.on('end', () => resolve(text));
}));
const client = initialize({
  url: input.url,
  appName: 'rollout-planner-tests',
  customHeaders: { Authorization: input.token },
  disableMetrics: true,
  refreshInterval: 1000,
});
client.on('error', (error) => { process.stderr.write(`unleash-client: ${error.message}\n`); });
await new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error('the Node SDK did not synchronise within 20 s')), 20000);
  client.once('synchronized', () => { clearTimeout(timer); resolve(); });
});
process.stdout.write(JSON.stringify(input.checks.map((check) => client.isEnabled(check.flag, check.context))) + '\n');
client.destroy();
