/** A checked value, or the human-readable reason it was refused. */
export type Checked<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly message: string };

/** The value passed. */
export const ok = <T>(value: T): Checked<T> => ({ ok: true, value });
/** The value was refused, for this reason. */
export const no = <T>(message: string): Checked<T> => ({ ok: false, message });
