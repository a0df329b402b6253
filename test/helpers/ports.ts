/**
 * Loopback ports and polling for tests: the same helpers the benchmark uses
 * (bench/lib/processes.ts), so the two never drift apart.
 */
export { freePort, freePortRange, waitFor } from '../../bench/lib/processes.js';
