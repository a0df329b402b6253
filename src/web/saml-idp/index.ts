/**
 * bouncer as the SAML IdP of SaaS apps. The auth service calls
 * {@link registerSamlIdp} with the signing pair from {@link loadSamlIdpSigning}.
 */
export { registerSamlIdp, MAX_RELAY_STATE, type RouteRegistrar, type SamlIdpDeps } from './routes.js';
export { loadSamlIdpSigning, generateSigning, SAML_IDP_CERT_FILE, SAML_IDP_KEY_FILE } from './signing.js';
export { samlIdpUrls, type SamlIdpSigning, type SamlIdpUrls } from './response.js';
export { SAML_IDP_TEXT, SamlIdpError, type SamlIdpErrorCode } from './errors.js';
export { createPendingSamlStore, type PendingSamlStore } from './pending.js';
export { parseSpMetadata, type SpMetadata } from '../../config/saml-sp-metadata.js';
