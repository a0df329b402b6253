/**
 * SAML schema validation (saml-schema-protocol-2.0.xsd and friends) through
 * `@authenio/samlify-xmllint-wasm`, which runs libxml2 compiled to WebAssembly in a
 * worker thread per call (about 100 ms each on a small machine).
 * The work is off the event loop already; what we add is a bound on how many run at
 * once and how many wait, so a burst of POSTs to the ACS cannot exhaust memory.
 */
import { validate } from '@authenio/samlify-xmllint-wasm';
import { samlInvalid } from './xml-guard.js';

/** Validates one XML document against the SAML 2.0 schemas; rejects with a LoginError. */
export type SchemaValidator = (xml: string) => Promise<void>;

/**
 * Create a concurrency-bounded schema validator.
 *
 * @example
 * ```ts
 * const validateSchema = createSchemaValidator({ concurrency: 4, maxQueued: 64 });
 * await validateSchema(xml); // throws LoginError('login_saml_invalid', ...) when invalid
 * ```
 */
export function createSchemaValidator(o: { concurrency?: number; maxQueued?: number } = {}): SchemaValidator {
  const concurrency = o.concurrency ?? 4;
  const maxQueued = o.maxQueued ?? 64;
  let running = 0;
  const waiting: (() => void)[] = [];

  const acquire = async (): Promise<void> => {
    if (running < concurrency) {
      running++;
      return;
    }
    if (waiting.length >= maxQueued) throw samlInvalid('too many SAML responses are being validated; try again');
    await new Promise<void>((resolve) => waiting.push(resolve));
  };
  const release = (): void => {
    const next = waiting.shift();
    // Hand the slot straight to the next waiter, so `running` stays accurate.
    if (next !== undefined) next();
    else running--;
  };

  return async (xml) => {
    await acquire();
    try {
      await validate(xml);
    } catch {
      // The library's own error text is a generic code; its details go to its console output.
      throw samlInvalid('does not conform to the SAML 2.0 schema');
    } finally {
      release();
    }
  };
}
