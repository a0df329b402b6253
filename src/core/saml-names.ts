/** URIs of SAML 2.0 that the login (SP) side, the IdP side and the config loader share. */
/** SAML 2.0 binding URIs (SAML bindings §3.4, §3.5). */
export const BINDING_REDIRECT = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect';
export const BINDING_POST = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST';
/** NameID format for email addresses (SAML core §8.3.2). */
export const NAMEID_FORMAT_EMAIL = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';
