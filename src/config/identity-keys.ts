/** The keys of the identity sections (`auth`, `idps`, `apps`, `service_tokens`); merged into `CONFIG_KEYS` (docs and tests iterate over that). */
export const IDENTITY_KEYS = {
  auth: ['domain', 'public_url', 'session', 'country_header', 'saml_idp'],
  saml_idp: ['cert_file', 'key_file'],
  session: ['duration', 'key_rotation_days', 'keys_dir'],
  idp_oidc: ['id', 'type', 'preset', 'issuer', 'client_id', 'client_secret_env', 'client_secret_file', 'scopes', 'groups_claim', 'id_token_signing_alg_values'],
  idp_github: ['id', 'type', 'client_id', 'client_secret_env', 'client_secret_file', 'orgs', 'api_url', 'authorize_url', 'token_url'],
  idp_saml: ['id', 'type', 'metadata_file', 'entity_id'],
  app: ['name', 'hostnames', 'idps', 'session_duration', 'api_paths', 'policies', 'launcher'],
  launcher: ['hidden', 'display_name', 'logo', 'url'],
  service_token: ['id', 'client_id', 'secret_sha256'],
} as const;

export const IDP_TYPES = ['oidc', 'github', 'saml'] as const;
export type RawIdpType = (typeof IDP_TYPES)[number];
