import { Command } from 'commander';
import { startBouncer, type ServeRole } from '../app.js';
import { loadConfig } from '../config/load.js';
import { createLogger } from '../observability/logger.js';

/** `bouncer serve`: run the ext_authz server and the ops HTTP server until SIGTERM/SIGINT. */
export function serveCommand(): Command {
  return new Command('serve')
    .description('run the ext_authz gRPC server and the HTTP side (metrics, health) from a config file')
    .requiredOption('-c, --config <file>', 'YAML config file (see docs/config.md)')
    .option('--grace <seconds>', 'longest wait for in-flight checks on SIGTERM', '10')
    .option('--only <part>', 'run one half: authz (ext_authz gRPC, with /metrics and /readyz on listen.http) or http (the login service); needs store.redis and auth.session.keys_dir')
    .addHelpText(
      'after',
      '\nEnvironment: BOUNCER_LISTEN_AUTHZ, BOUNCER_LISTEN_HTTP, BOUNCER_LOG_LEVEL override the config.\n' +
        'Signals: SIGHUP reloads the config now; SIGTERM/SIGINT stop gracefully (NOT_SERVING, drain, exit).',
    )
    .action(async (opts: { config: string; grace: string; only?: string }) => {
      const grace = Number(opts.grace);
      if (!Number.isFinite(grace) || grace < 0) throw new Error(`--grace must be a number of seconds, got ${opts.grace}`);
      if (opts.only !== undefined && opts.only !== 'authz' && opts.only !== 'http') throw new Error(`--only must be authz or http, got ${opts.only}`);
      const role: ServeRole = opts.only ?? 'all';
      const config = await loadConfig(opts.config, process.env);
      const logger = createLogger(config.log.level);
      for (const w of config.warnings ?? []) logger.warn({ warning: w }, 'config warning');
      const app = await startBouncer({ config, logger, role });
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
