// Starts the real Unleash server (OSS, pinned in package.json) for development and tests.
//
// Started by `scripts/devstack.py up`, which sets DATABASE_URL and the INIT_*_API_TOKENS.
// Environment:
//   DATABASE_URL    postgres://user@host:port/db (required)
//   UNLEASH_HOST    interface to bind, default 127.0.0.1 (never listen beyond loopback by default)
//   UNLEASH_PORT    default 4242
//   LOG_LEVEL       debug | info | warn | error, default warn
// Resource limits stay at Unleash's defaults, because the planner's tests exercise splitting
// against them; Unleash itself reads overrides such as UNLEASH_CONSTRAINT_VALUES_LIMIT,
// UNLEASH_SEGMENT_VALUES_LIMIT, UNLEASH_STRATEGY_SEGMENTS_LIMIT, UNLEASH_CONSTRAINTS_LIMIT and
// UNLEASH_FEATURE_ENVIRONMENT_STRATEGIES_LIMIT from the environment.
import { start } from 'unleash-server';

if (!process.env.DATABASE_URL) {
    console.error('server.mjs: DATABASE_URL is not set (e.g. postgres://postgres@127.0.0.1:55432/unleash)');
    process.exit(2);
}

const port = Number.parseInt(process.env.UNLEASH_PORT ?? '4242', 10);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
    console.error(`server.mjs: UNLEASH_PORT must be a port number, got ${JSON.stringify(process.env.UNLEASH_PORT)}`);
    process.exit(2);
}
const host = process.env.UNLEASH_HOST || '127.0.0.1';

// Unleash 8.2.0 has no `sendTelemetry` option and computes `options.telemetry || SEND_TELEMETRY
// (default true)`, so `telemetry: false` alone would not turn it off; only the variable does.
process.env.SEND_TELEMETRY = 'false';

// The archive is listed through the feature search, which Unleash limits to 15 requests a minute per
// address; a test suite on one machine goes past that. Production servers keep their own setting.
process.env.SEARCH_FEATURES_RATE_LIMIT_PER_MINUTE ??= '600';

// Unleash 8.2 runs some event listeners in the background (e.g. a flag's lifecycle when it is archived);
// when one fails, the rejection is unhandled and Node would end the whole server. A dev/test server logs
// it and keeps serving instead.
process.on('unhandledRejection', (reason) => {
    console.error('unhandled rejection inside Unleash (server keeps running):', reason?.message ?? reason);
});

try {
    const unleash = await start({
        databaseUrl: process.env.DATABASE_URL,
        server: { host, port },
        authentication: { type: 'open-source' },
        versionCheck: { enable: false },
        telemetry: false,
        logLevel: process.env.LOG_LEVEL || 'warn',
    });
    const address = unleash.server.address();
    console.log(`Unleash ${unleash.version} listening on http://${address.address}:${address.port}`);
} catch (error) {
    console.error('Unleash failed to start:', error);
    process.exit(1);
}
