import { evaluatePolicies } from '../../../core/policy/index.js';
import { policyDenied } from '../errors.js';
import { need, type SignInContext } from '../context.js';
import { requestContext } from '../request-context.js';

/** Run the app's policies for who is signing in; throws the deny page unless allowed. Nothing to check before someone is signed in. */
export function checkPolicy(ctx: SignInContext): undefined {
  if (ctx.signIn === undefined) return undefined;
  const { identity } = ctx.signIn;
  const app = need(ctx, 'app');
  const verdict = evaluatePolicies(app.policies, identity, requestContext(ctx.req, need(ctx, 'auth'), need(ctx, 'rd'), ctx.nowMs));
  ctx.req.log.info({ app: app.name, sub: identity.sub, email: identity.email ?? null, idp: identity.idp.id, outcome: verdict.outcome, reason: verdict.reason, policy: verdict.policy ?? null }, 'login policy');
  if (verdict.outcome !== 'allow' && verdict.outcome !== 'bypass') {
    throw policyDenied(verdict.reason === 'login_required' ? 'policy_no_match' : verdict.reason, `Access denied. ${verdict.detail}`, verdict.policy, {
      app: app.name,
      user: identity.email ?? identity.sub,
    });
  }
  ctx.policyAllowed = true;
  return undefined;
}
