/** The provider's fixed settings: where it is mounted, what each scope releases, how long tokens live. */

/** Path prefix of the provider on the auth domain. */
export const OIDC_MOUNT = '/oidc';

/** Scopes offered, and the claims each releases (ID token and userinfo). */
export const OIDC_SCOPE_CLAIMS: Readonly<Record<string, readonly string[]>> = {
  openid: ['sub', 'idp', 'amr'],
  email: ['email', 'email_verified'],
  profile: ['name'],
  groups: ['groups'],
};

/** Token lifetimes in seconds. Codes are redeemed by a server at once; access tokens only reach userinfo. */
export const OIDC_TTL = { AuthorizationCode: 60, AccessToken: 600, IdToken: 3600, Interaction: 600 } as const;
