/**
 * C0 and C1 control characters other than TAB. Refused in names people
 * type: they drive terminals (U+009B is CSI for terminals that honour
 * 8-bit controls, the same hazard as ESC) and corrupt logs.
 */
// eslint-disable-next-line no-control-regex
export const CONTROL_CHARS = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/;

export function hasControlChars(s: string): boolean {
  return CONTROL_CHARS.test(s);
}
