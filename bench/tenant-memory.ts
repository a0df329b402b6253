/**
 * Heap held by a loaded config and its tenant index, measured after a full GC:
 *
 *   node --expose-gc dist/bench/tenant-memory.js CONFIG
 *
 * Prints {"tenants": n, "heapBytes": b}. The tenant-count scenario runs it at
 * two sizes; the difference divided by the tenants added is the memory of one
 * idle tenant (its config entry, hostname index entries, shared CA).
 */
import { loadConfig } from '../src/config/load.js';
import { buildTenantIndex } from '../src/core/tenant-index.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');
const path = process.argv[2];
if (!path) throw new Error('usage: tenant-memory CONFIG');
gc();
const before = process.memoryUsage().heapUsed;
const config = await loadConfig(path, { ...process.env, BENCH_IDP_SECRET: 'bench' });
const index = buildTenantIndex(config.tenants);
gc();
const after = process.memoryUsage().heapUsed;
process.stdout.write(`${JSON.stringify({ tenants: index.size, heapBytes: after - before })}\n`);
