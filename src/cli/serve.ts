import { Command } from 'commander';
import { startBouncer } from '../app.js';
import { loadConfig } from '../config/load.js';
import { createLogger } from '../observability/logger.js';

/** `bouncer serve`: run the ext_authz server and the ops HTTP server until SIGTERM/SIGINT. */
export function serveCommand(): Command {
  return new Command('serve')
    .description('run the ext_authz gRPC server and the HTTP side (metrics, health) from a config file')
    .requiredOption('-c, --config <file>', 'YAML config file (see docs/config.md)')
    .option('--grace <seconds>', 'longest wait for in-flight checks on SIGTERM', '10')
    .addHelpText(
      'after',
      '\nEnvironment: BOUNCER_LISTEN_AUTHZ, BOUNCER_LISTEN_HTTP, BOUNCER_LOG_LEVEL override the config.\n' +
        'Signals: SIGHUP reloads the config now; SIGTERM/SIGINT stop gracefully (NOT_SERVING, drain, exit).',
    )
    .action(async (opts: { config: string; grace: string }) => {
      const grace = Number(opts.grace);
      if (!Number.isFinite(grace) || grace < 0) throw new Error(`--grace must be a number of seconds, got ${opts.grace}`);
      const config = await loadConfig(opts.config, process.env);
      const logger = createLogger(config.log.level);
      for (const w of config.warnings ?? []) logger.warn({ warning: w }, 'config warning');
      const app = await startBouncer({ config, logger });
      let stopping = false;
      const stop = (signal: string): void => {
        if (stopping) return;
        stopping = true;
        logger.info({ signal }, 'stopping: NOT_SERVING, draining in-flight checks');
        app.close(grace * 1000).then(
          () => {
            logger.info('stopped');
            logger.flush();
            process.exit(0);
          },
          (err: unknown) => {
            logger.error({ err }, 'error while stopping');
            logger.flush();
            process.exit(1);
          },
        );
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGHUP', () => {
        void app.reload();
      });
    });
}
