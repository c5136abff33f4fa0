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

const CONTROL_CHARS_ALL = new RegExp(CONTROL_CHARS.source, 'g');

/** How much of a value a message quotes: enough to recognise it, never enough to bloat a reply. */
const QUOTED_CHARS = 64;

/**
 * `value` as a message quotes it: JSON-quoted (so control characters show
 * as escapes), and cut with its length given when longer than a glance.
 */
export function quoted(value: string): string {
  if (value.length <= QUOTED_CHARS) return JSON.stringify(value);
  return `${JSON.stringify(value.slice(0, QUOTED_CHARS))}… (${value.length} characters)`;
}

/**
 * Free text a service reports (a worker's reason for a result, a
 * scheduler's note on a waiting task), made safe to store and show: each
 * control character becomes a space, and the text is cut to `max`
 * characters (never inside a surrogate pair). Such reports are kept rather
 * than refused: refusing one would lose the result or the placements it
 * came with.
 */
export function reportedText(text: string, max: number): string {
  let cut = text.length > max ? text.slice(0, max) : text;
  if (/[\ud800-\udbff]$/.test(cut)) cut = cut.slice(0, -1);
  return cut.replace(CONTROL_CHARS_ALL, ' ');
}

/**
 * The length of `s` in UTF-8 bytes, as Buffer.byteLength counts it (a lone
 * surrogate is the 3-byte replacement character), without Node's Buffer,
 * so the spec rules run in the browser too.
 */
export function utf8ByteLength(s: string): number {
  let bytes = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}
