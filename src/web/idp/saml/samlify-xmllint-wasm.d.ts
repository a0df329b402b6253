// The package ships JavaScript only; this is the one function we use from it.
declare module '@authenio/samlify-xmllint-wasm' {
  /** Resolves true when `xml` validates against the bundled SAML 2.0 schemas; rejects otherwise. */
  export function validate(xml: string): Promise<true>;
}
