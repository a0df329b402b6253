import { validateReturnUrl, type ReturnUrlProblem } from '../../../core/return-url.js';
import { webError } from '../errors.js';
import { need, type SignInContext } from '../context.js';

/** Where the browser goes after sign-in: an https URL on one of the app's hosts, with a safe path. */
export function checkReturnUrl(ctx: SignInContext): undefined {
  const rd = need(ctx, 'asked').rd;
  const r = validateReturnUrl(typeof rd === 'string' ? rd : undefined, need(ctx, 'app').hostnames);
  if (!r.ok) throw webError('return_url_invalid', returnUrlText(r.problem));
  ctx.rd = r.target;
  return undefined;
}

function returnUrlText(problem: ReturnUrlProblem): string {
  switch (problem) {
    case 'return_url_missing':
      return 'The sign-in link has no return address.';
    case 'return_url_host_not_allowed':
      return 'The return address is not a host of this application.';
    case 'return_url_path_unsafe':
      return 'The return address has a path a browser could read as another site.';
    default:
      return 'The return address is not a valid https URL of this application.';
  }
}
