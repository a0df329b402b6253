import type { Explanation } from '../core/explanation.js';

const OUTCOME_MARK = { matched: '+', not_matched: '-', needs_login: '?', not_evaluated: '.' } as const;

/** The explanation as an operator reads it in a terminal. */
export function renderExplanation(e: Explanation): string {
  const lines: string[] = [];
  const r = e.request;
  lines.push(`${e.decision.toUpperCase()} ${e.status} ${e.reason}: ${e.detail}`);
  if (e.location !== undefined) lines.push(`  redirect to ${e.location}`);
  lines.push(`  request  ${r.method} https://${r.host}${r.path}${r.source_ip !== undefined ? ` from ${r.source_ip}` : ''}${r.country !== undefined ? ` (${r.country})` : ''} at ${e.at}`);
  lines.push(`  tenant   ${e.tenant ?? '-'}`);
  lines.push(`  app      ${e.app ?? '-'}`);
  lines.push(`  policy   ${e.policy ?? '-'}`);
  if (e.mtls) lines.push(`  mTLS     ${e.mtls.ok ? 'passed' : 'refused'}: ${e.mtls.reason}${e.mtls.detail !== undefined ? ` (${e.mtls.detail})` : ''}`);
  if (e.certificate) lines.push(`  cert     ${e.certificate.subject} (issuer ${e.certificate.issuer}, sha256 ${e.certificate.fingerprint256})`);
  const s = e.session;
  if (s.source !== 'none' || s.status !== 'absent') {
    const who = s.status === 'valid' ? ` ${s.email ?? s.sub ?? '?'} via ${s.idp ?? '?'}; groups [${(s.groups ?? []).join(', ')}]; amr [${(s.amr ?? []).join(', ')}]; signed in ${s.auth_time ?? '?'}` : '';
    lines.push(`  session  ${s.source === 'asserted' ? 'ASSERTED (not verified)' : s.source}: ${s.status}${s.detail !== undefined ? ` (${s.detail})` : ''}${who}`);
  } else {
    lines.push('  session  none');
  }
  if (e.service_token) {
    const t = e.service_token;
    lines.push(`  service  ${t.asserted ? `ASSERTED (not verified): token "${t.id ?? '?'}"` : `client ${t.client_id}: ${t.id !== undefined ? `valid token "${t.id}"` : 'not a valid token'}`}`);
  }
  if (e.policies.length > 0) {
    lines.push('  policies (in evaluation order: bypass, service_auth, deny, allow; + matched, - not matched, ? needs a login, . not evaluated)');
    for (const p of e.policies) {
      lines.push(`    ${OUTCOME_MARK[p.outcome]} ${p.action.padEnd(12)} ${p.name}${p.decided ? '  <= decided' : ''}: ${p.why}`);
    }
  }
  for (const n of e.notes) lines.push(`  note: ${n}`);
  return `${lines.join('\n')}\n`;
}
