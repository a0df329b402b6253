/** Placeholder type until the CRL module lands; replaced by the PKI work. */
export interface ParsedCrl {
  readonly issuer: string;
  readonly thisUpdate: number;
  readonly nextUpdate: number | undefined;
  readonly revokedSerials: ReadonlySet<string>;
}
