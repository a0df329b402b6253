import { Command } from 'commander';
import { startBouncer, type ServeRole } from '../serve/start.js';
import { loadConfig } from '../config/load.js';
import { createLogger, flushLogger } from '../observability/logger.js';
import { collectLoadGarbage } from './heap.js';
import { attachToSupervisor, runWorkers } from './workers.js';

/** `bouncer serve`: run the ext_authz server and the ops HTTP server until SIGTERM/SIGINT. */
export function serveCommand(): Command {
  return new Command('serve')
    .description('run the ext_authz gRPC server and the HTTP side (metrics, health) from a config file')
    .requiredOption('-c, --config <file>', 'YAML config file (see docs/config.md)')
    .option('--grace <seconds>', 'longest wait for in-flight checks on SIGTERM', '10')
    .option('--only <part>', 'run one half: authz (ext_authz gRPC, with /metrics and /readyz on listen.http) or http (the login service); needs store.redis and auth.session.keys_dir')
    .option('--workers <n>', 'run n processes, worker i on the configured ports + i (see bouncer envoy render --authz-workers)', '1')
    .addHelpText(
      'after',
      '\nEnvironment: BOUNCER_LISTEN_AUTHZ, BOUNCER_LISTEN_HTTP, BOUNCER_LOG_LEVEL override the config.\n' +
        'Signals: SIGHUP reloads the config now; SIGTERM/SIGINT stop gracefully (NOT_SERVING, drain, exit).',
    )
    .action(async (opts: { config: string; grace: string; only?: string; workers: string }) => {
      const grace = Number(opts.grace);
      if (!Number.isFinite(grace) || grace < 0) throw new Error(`--grace must be a number of seconds, got ${opts.grace}`);
      if (opts.only !== undefined && opts.only !== 'authz' && opts.only !== 'http') throw new Error(`--only must be authz or http, got ${opts.only}`);
      const role: ServeRole = opts.only ?? 'all';
      const config = await loadConfig(opts.config, process.env);
      const logger = createLogger(config.log.level);
      for (const w of config.warnings ?? []) logger.warn({ warning: w }, 'config warning');
      collectLoadGarbage(config.tenants.length);
      if (Number(opts.workers) !== 1) {
        if (role !== 'all') throw new Error('--workers and --only do not combine: run several --only processes instead');
        const code = await runWorkers({ config, configPath: opts.config, count: Number(opts.workers), graceSec: grace, logger });
        await flushLogger(logger);
        process.exit(code);
      }
      const app = await startBouncer({ config, logger, role });
      let stopping = false;
      const stop = (signal: string): void => {
        if (stopping) return;
        stopping = true;
        logger.info({ signal }, 'stopping: NOT_SERVING, draining in-flight checks');
        app.close(grace * 1000).then(
          async () => {
            logger.info('stopped');
            await flushLogger(logger);
            process.exit(0);
          },
          async (err: unknown) => {
            logger.error({ err }, 'error while stopping');
            await flushLogger(logger);
            process.exit(1);
          },
        );
      };
      attachToSupervisor({ authzPort: app.authzPort, httpPort: app.httpPort }, stop);
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGHUP', () => {
        void app.reload();
      });
    });
}
